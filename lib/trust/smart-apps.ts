/**
 * What the SMART App Launch authorization server (gateway/src/smart/) and
 * identity, which keeps its state, say to each other: registered apps, the
 * accounts people sign in with, and the internal API bodies. Identity owns
 * the apps, the approvals (consent directives) and the server's artifacts;
 * the gateway runs the protocol and holds nothing.
 */
import type { Actor } from './actor.js';

/** Who signs in to an app: patients, staff, or nobody (an institution's backend service). */
export const APP_KINDS = ['PATIENT_APP', 'STAFF_APP', 'BACKEND_SERVICE'] as const;
export type AppKind = (typeof APP_KINDS)[number];

/** SMART client types: public (PKCE only), confidential with a client secret, confidential with a key (private_key_jwt). */
export const CLIENT_TYPES = ['PUBLIC', 'CONFIDENTIAL_SYMMETRIC', 'CONFIDENTIAL_ASYMMETRIC'] as const;
export type ClientType = (typeof CLIENT_TYPES)[number];

/** The scope context each kind of app may be registered for. */
export const KIND_CONTEXT: Record<AppKind, 'patient' | 'user' | 'system'> = { PATIENT_APP: 'patient', STAFF_APP: 'user', BACKEND_SERVICE: 'system' };

/**
 * OpenID Connect and SMART context scopes the server understands besides the
 * clinical ones: `openid fhirUser` (who signed in), `launch/patient` (a
 * patient in context: patient apps only), `offline_access` (a refresh token:
 * only when the registration lists it).
 */
export const CONTEXT_SCOPES = ['openid', 'fhirUser', 'launch/patient', 'offline_access'] as const;

/** An app as identity answers it to the authorization server (`/internal/authorization/client`). */
export interface RegisteredApp {
  clientId: string;
  name: string;
  organizationId: string;
  organizationName: string;
  kind: AppKind;
  clientType: ClientType;
  redirectUris: string[];
  /** The most the app may be granted (space-separated scopes). */
  scope: string;
  jwks: { keys: Record<string, unknown>[] } | null;
  jwksUri: string | null;
  /** SHA-256 (hex) of the client secret (confidential-symmetric). */
  secretHash: string | null;
  active: boolean;
}

/** Someone who signs in at the authorization server: a patient, or a practitioner of an organisation. */
export interface SignInAccount {
  /** The token subject: the patient's id, or the practitioner's. */
  accountId: string;
  kind: 'patient' | 'practitioner';
  /** The actor role their tokens carry: `app` for a patient's app, the practitioner's role for staff. */
  role: 'app' | 'clinician' | 'nurse' | 'public_health';
  /** The practitioner's organisation. */
  org: string | null;
  /** Display name (family then given names). */
  name: string;
}

/** `/internal/authorization/account` requests. */
export type AccountRequest =
  | { op: 'find'; accountId: string }
  | { op: 'health-card'; value: string }
  | { op: 'practitioner'; practitionerId: string; organizationId?: string | null }
  | { op: 'demo' }
  /** Whether the patient's approval of the app is in force (introspection of an app's access token). */
  | { op: 'approved'; patientId: string; clientId: string };

/** `/internal/authorization/approval`: the patient approved these scopes for the app; the grant the tokens come from. */
export interface ApprovalRequest {
  clientId: string;
  scope: string;
  grantId: string;
}

/**
 * The actor the authorization server's own calls to identity carry (the
 * artifacts it stores, the apps and accounts it looks up): the service
 * itself, acting for nobody. Approvals are recorded under the patient's
 * actor instead, so the audit trail names the patient.
 */
export const AUTHORIZATION_SERVER_ACTOR: Actor = {
  sub: 'authorization-server', role: 'admin', org: null, scope: '', patient: null, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: null,
};
