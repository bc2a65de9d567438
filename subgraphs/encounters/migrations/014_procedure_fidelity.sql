-- Procedure fidelity (issue 27: nothing accepted is lost): performed[x] as a
-- string ("childhood"), an Age or a Range of ages, as sent; refused by name
-- until now. Such a procedure has no instant of its own: its place on the
-- timeline (performed_at) is when it was published.
ALTER TABLE procedure ADD COLUMN IF NOT EXISTS performed_string text;
ALTER TABLE procedure ADD COLUMN IF NOT EXISTS performed_age jsonb;
ALTER TABLE procedure ADD COLUMN IF NOT EXISTS performed_range jsonb;

-- Condition fidelity (same issue): onsetDateTime and abatementDateTime as sent
-- (their precision and zone), and verificationStatus (condition-ver-status).
-- Before, an onset other than the recorded date and any abatement or
-- verification status were refused by name, and an onset equal to the
-- recorded date was accepted and not exported.
ALTER TABLE condition ADD COLUMN IF NOT EXISTS onset_date_time text;
ALTER TABLE condition ADD COLUMN IF NOT EXISTS abatement_date_time text;
ALTER TABLE condition ADD COLUMN IF NOT EXISTS verification_status text;
