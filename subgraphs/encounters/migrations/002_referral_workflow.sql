-- Referral workflow and remote consultation.
--
-- A referral is produced by the referring organisation and addressed to the
-- receiving one; `addressee_organization_ids` lists the organisations whose
-- staff see the record as the producer's do (the consent filter reads it).
ALTER TABLE referral ADD COLUMN IF NOT EXISTS addressee_organization_ids text[] GENERATED ALWAYS AS (ARRAY[performer_organization_id]) STORED;
-- Categories of the record the referring clinician asks the patient to share
-- with the receiving organisation (approved by a consent permit the patient grants).
ALTER TABLE referral ADD COLUMN IF NOT EXISTS consent_request_categories text[] NOT NULL DEFAULT '{}';
ALTER TABLE referral ADD COLUMN IF NOT EXISTS status_reason text;
ALTER TABLE referral ADD COLUMN IF NOT EXISTS status_changed_at timestamptz;
CREATE INDEX IF NOT EXISTS referral_requester ON referral (requester_organization_id, status);

-- A remote consultation is a virtual encounter based on a referral, with
-- participants from several organisations, who all see it.
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS referral_id uuid REFERENCES referral (id);
ALTER TABLE encounter ADD COLUMN IF NOT EXISTS addressee_organization_ids text[] NOT NULL DEFAULT '{}';
CREATE INDEX IF NOT EXISTS encounter_referral ON encounter (referral_id) WHERE referral_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS encounter_participant (
  encounter_id uuid NOT NULL REFERENCES encounter (id),
  practitioner_id text NOT NULL,
  organization_id text NOT NULL,
  -- FHIR participant-type code, e.g. PPRF (primary performer), CON (consultant).
  type_code text NOT NULL,
  PRIMARY KEY (encounter_id, practitioner_id)
);
