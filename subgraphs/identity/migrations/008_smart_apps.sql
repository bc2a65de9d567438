-- SMART App Launch: the apps administrators register, the patients'
-- approvals of them, and the authorization server's own state. Identity owns
-- them because they are about who may see a patient's records: an approval is
-- a consent directive (actor_type 'app'), and revoking it must end the app's
-- grants in the same transaction.

-- Apps registered with the authorization server (client metadata). Never
-- deleted: deactivated, so the audit trail's client ids keep a name.
CREATE TABLE smart_app (
  client_id text PRIMARY KEY,
  name text NOT NULL,
  organization_id text NOT NULL REFERENCES organization (id),
  -- Who signs in: patients (patient/ scopes), staff (user/ scopes), or nobody (a backend service, system/ scopes).
  kind text NOT NULL CHECK (kind IN ('patient-app', 'staff-app', 'backend-service')),
  -- SMART client types: public (PKCE only), confidential-symmetric (a client secret), confidential-asymmetric (private_key_jwt).
  client_type text NOT NULL CHECK (client_type IN ('public', 'confidential-symmetric', 'confidential-asymmetric')),
  redirect_uris text[] NOT NULL DEFAULT '{}',
  -- The most the app may be granted: SMART scopes, space-separated.
  scope text NOT NULL,
  jwks jsonb,
  jwks_uri text,
  -- SHA-256 (hex) of the client secret; the secret itself is shown once, at registration or rotation.
  secret_hash text,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((client_type = 'confidential-symmetric') = (secret_hash IS NOT NULL)),
  CHECK (client_type <> 'confidential-asymmetric' OR jwks IS NOT NULL OR jwks_uri IS NOT NULL),
  CHECK ((kind = 'backend-service') = (cardinality(redirect_uris) = 0))
);

-- App registrations are registry entries: their changes go to the registry change log.
ALTER TABLE registry_change DROP CONSTRAINT IF EXISTS registry_change_entity_type_check;
ALTER TABLE registry_change ADD CONSTRAINT registry_change_entity_type_check CHECK (entity_type IN ('organization', 'practitioner', 'app'));

-- A patient's approval on the authorization server's approval screen: the
-- consent directive it recorded, the scopes approved, and the grant the app's
-- tokens come from.
CREATE TABLE smart_app_approval (
  directive_id uuid PRIMARY KEY REFERENCES consent_directive (id),
  patient_id uuid NOT NULL,
  client_id text NOT NULL,
  scope text NOT NULL,
  grant_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX smart_app_approval_patient_client ON smart_app_approval (patient_id, client_id);

-- The authorization server's state (oidc-provider models: interactions,
-- sessions, authorization codes, grants, refresh tokens, replay detection),
-- shared by every gateway replica and kept across restarts. account_id and
-- client_id are copied out of grants so a revocation finds them.
CREATE TABLE oauth_artifact (
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  grant_id text,
  uid text,
  account_id text,
  client_id text,
  expires_at timestamptz,
  consumed_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX oauth_artifact_grant ON oauth_artifact (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oauth_artifact_uid ON oauth_artifact (uid) WHERE uid IS NOT NULL;
CREATE INDEX oauth_artifact_account_client ON oauth_artifact (account_id, client_id) WHERE model = 'Grant';
CREATE INDEX oauth_artifact_expires ON oauth_artifact (expires_at);
