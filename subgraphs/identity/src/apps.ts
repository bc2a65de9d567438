/**
 * Apps registered with the SMART authorization server (gateway/src/smart/):
 * administrators register, change and deactivate them (GraphQL mutations,
 * `npm run app`); every change goes to the registry change log in the same
 * transaction. A confidential-symmetric app's secret is generated here, shown
 * once and kept only as a SHA-256 hash (it is 256 random bits: a slow hash
 * would add nothing).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Database, Queryable } from '../../../lib/runtime/db.js';
import { badInput, ErrorCode, productError } from '../../../lib/runtime/errors.js';
import type { Row } from '../../../lib/records/records.js';
import { isClinicalScope, parseScopes } from '../../../lib/trust/scopes.js';
import { APP_KINDS, CLIENT_TYPES, CONTEXT_SCOPES, KIND_CONTEXT, type AppKind, type ClientType, type RegisteredApp } from '../../../lib/trust/smart-apps.js';
import { changeAction, oneOf, recordChange, sameEntry, text, type RegistryAuthor } from './registry.js';

export interface AppInput {
  clientId: string;
  name: string;
  organizationId: string;
  kind: string;
  clientType: string;
  redirectUris?: string[] | null;
  scope: string;
  jwksUri?: string | null;
  /** A JSON Web Key Set (public keys), as JSON text. */
  jwks?: string | null;
  active?: boolean | null;
}

/** Client ids: letters, digits and `.`, `_`, `-` (reverse-DNS names included), 3 to 100 characters. */
const CLIENT_ID = /^(?=.{3,100}$)[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$/;
const MAX_REDIRECT_URIS = 10;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A redirect URI or JWKS URL: absolute, no fragment, https (http only on the loopback, for native and development apps: RFC 8252). */
function appUrl(value: unknown, field: string): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    throw badInput(`${field}: ${String(value).slice(0, 100)} is not an absolute URL`, { field });
  }
  if (String(value).length > 500) throw badInput(`${field}: URLs are at most 500 characters`, { field });
  if (url.hash || String(value).includes('#')) throw badInput(`${field}: no fragment (#) allowed`, { field });
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw badInput(`${field}: use https (http only on the loopback: 127.0.0.1, localhost)`, { field });
  }
  return String(value);
}

/** The registered scope: clinical scopes of the kind's context, and the context scopes the kind may use. */
function registeredScope(value: unknown, kind: AppKind): string {
  const tokens = [...new Set(String(value ?? '').split(/\s+/).filter(Boolean))];
  const context = KIND_CONTEXT[kind];
  const clinical = tokens.filter((token) => !(CONTEXT_SCOPES as readonly string[]).includes(token));
  for (const token of clinical) {
    if (!isClinicalScope(token)) throw badInput(`scope: ${token.slice(0, 100)} is not a SMART scope this server knows (patient/, user/ or system/ with a FHIR resource type)`, { field: 'scope' });
    if (!token.startsWith(`${context}/`)) throw badInput(`scope: a ${kind.toLowerCase().replace(/_/g, ' ')} is registered for ${context}/ scopes only (${token})`, { field: 'scope' });
  }
  if (!clinical.length) throw badInput('scope: name at least one clinical scope (e.g. patient/Observation.rs)', { field: 'scope' });
  if (kind === 'BACKEND_SERVICE' && tokens.length !== clinical.length) throw badInput('scope: a backend service has no user: openid, fhirUser, launch/patient and offline_access do not apply', { field: 'scope' });
  if (kind === 'STAFF_APP' && tokens.includes('launch/patient')) throw badInput('scope: launch/patient is for patient apps', { field: 'scope' });
  parseScopes(clinical.join(' '));
  return tokens.join(' ');
}

function publicJwks(value: string | null | undefined): { keys: Record<string, unknown>[] } | null {
  if (value == null || value === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw badInput('jwks is not JSON: give a JSON Web Key Set, {"keys": [...]}', { field: 'jwks' });
  }
  const keys = (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > 10 || !keys.every((k) => k && typeof k === 'object' && typeof (k as { kty?: unknown }).kty === 'string')) {
    throw badInput('jwks must be a JSON Web Key Set with 1 to 10 keys, each with a kty', { field: 'jwks' });
  }
  // A private key in a registration would be the app's secret in our database: refuse it.
  if (keys.some((k) => ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((member) => member in (k as object)))) {
    throw badInput('jwks must hold public keys only (no private or symmetric key members)', { field: 'jwks' });
  }
  if (value.length > 20_000) throw badInput('jwks is too large', { field: 'jwks' });
  return { keys: keys as Record<string, unknown>[] };
}

const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');
const newSecret = () => randomBytes(32).toString('base64url');

const KIND_STORED: Record<AppKind, string> = { PATIENT_APP: 'patient-app', STAFF_APP: 'staff-app', BACKEND_SERVICE: 'backend-service' };
const TYPE_STORED: Record<ClientType, string> = { PUBLIC: 'public', CONFIDENTIAL_SYMMETRIC: 'confidential-symmetric', CONFIDENTIAL_ASYMMETRIC: 'confidential-asymmetric' };
const enumOf = (stored: string) => String(stored).toUpperCase().replace(/-/g, '_');

/** An app as the API and the change log show it (never the secret's hash). */
const appView = (row: Row) => ({
  clientId: row.client_id as string, name: row.name as string, organizationId: row.organization_id as string, kind: enumOf(row.kind), clientType: enumOf(row.client_type),
  redirectUris: (row.redirect_uris ?? []) as string[], scope: row.scope as string, jwksUri: (row.jwks_uri ?? null) as string | null,
  jwks: row.jwks ? JSON.stringify(row.jwks) : null, active: row.active !== false,
});
const sameApp = (a: ReturnType<typeof appView>, b: ReturnType<typeof appView>) =>
  sameEntry({ ...a, redirectUris: a.redirectUris.join(' ') }, { ...b, redirectUris: b.redirectUris.join(' ') });

/**
 * Registers an app, or changes the one with this client id. Returns the row
 * and, when one was generated (a new confidential-symmetric app, or an app
 * becoming one), its client secret. Deactivating an app ends its grants: the
 * refresh tokens it holds stop working.
 */
export async function upsertApp(db: Database, author: RegistryAuthor, input: AppInput): Promise<{ row: Row; clientSecret: string | null }> {
  if (typeof input.clientId !== 'string' || !CLIENT_ID.test(input.clientId)) {
    throw badInput('clientId: letters, digits and . _ - (not at either end), 3 to 100 characters (e.g. bp-diary or org.example.diary)', { field: 'clientId' });
  }
  const name = text(input.name, 'name', 200, true)!;
  if (name.length < 2) throw badInput('name must have at least 2 characters', { field: 'name' });
  const kind = oneOf(input.kind, APP_KINDS, 'kind');
  const clientType = oneOf(input.clientType, CLIENT_TYPES, 'clientType');
  if (kind === 'BACKEND_SERVICE' && clientType !== 'CONFIDENTIAL_ASYMMETRIC') {
    throw badInput('clientType: a backend service authenticates with a signed assertion (CONFIDENTIAL_ASYMMETRIC), as SMART Backend Services require', { field: 'clientType' });
  }
  const redirectUris = [...new Set((input.redirectUris ?? []).map((uri) => appUrl(uri, 'redirectUris')))];
  if (kind === 'BACKEND_SERVICE' && redirectUris.length) throw badInput('redirectUris: a backend service signs nobody in and has none', { field: 'redirectUris' });
  if (kind !== 'BACKEND_SERVICE' && redirectUris.length === 0) throw badInput('redirectUris: an app people sign in to needs at least one', { field: 'redirectUris' });
  if (redirectUris.length > MAX_REDIRECT_URIS) throw badInput(`redirectUris: at most ${MAX_REDIRECT_URIS}`, { field: 'redirectUris' });
  const scope = registeredScope(input.scope, kind);
  const jwksUri = input.jwksUri ? appUrl(input.jwksUri, 'jwksUri') : null;
  const jwks = publicJwks(input.jwks);
  if (clientType === 'CONFIDENTIAL_ASYMMETRIC' && !jwks && !jwksUri) throw badInput('A CONFIDENTIAL_ASYMMETRIC app registers its public keys: jwksUri or jwks', { field: 'jwks' });
  if (clientType !== 'CONFIDENTIAL_ASYMMETRIC' && (jwks || jwksUri)) throw badInput('Only CONFIDENTIAL_ASYMMETRIC apps register keys', { field: 'jwks' });
  if (jwks && jwksUri) throw badInput('Give jwksUri or jwks, not both', { field: 'jwks' });
  if (input.active != null && typeof input.active !== 'boolean') throw badInput('active must be true or false', { field: 'active' });
  return db.transaction(async (tx) => {
    const [existing] = await tx.query<Row>('SELECT * FROM smart_app WHERE client_id = $1 FOR UPDATE', [input.clientId]);
    const active = input.active ?? (existing ? existing.active !== false : true);
    const [organization] = await tx.query<Row>('SELECT id, active FROM organization WHERE id = $1', [input.organizationId]);
    // An app being deactivated may name an organisation that left the alliance.
    if (!organization || (active && organization.active === false)) {
      throw badInput(`organizationId: ${String(input.organizationId).slice(0, 64)} is not an active organisation of the alliance registry`, { field: 'organizationId' });
    }
    let clientSecret: string | null = null;
    let secretHash: string | null = null;
    if (clientType === 'CONFIDENTIAL_SYMMETRIC') {
      secretHash = existing?.secret_hash ?? null;
      if (!secretHash) {
        clientSecret = newSecret();
        secretHash = hashSecret(clientSecret);
      }
    }
    const before = existing ? appView(existing) : null;
    const after = { clientId: input.clientId, name, organizationId: input.organizationId, kind, clientType, redirectUris, scope, jwksUri, jwks: jwks ? JSON.stringify(jwks) : null, active };
    if (before && !clientSecret && sameApp(before, after)) return { row: existing!, clientSecret: null };
    const [row] = await tx.query<Row>(
      `INSERT INTO smart_app (client_id, name, organization_id, kind, client_type, redirect_uris, scope, jwks, jwks_uri, secret_hash, active, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6::text[], $7, $8::jsonb, $9, $10, $11, now())
       ON CONFLICT (client_id) DO UPDATE SET name = EXCLUDED.name, organization_id = EXCLUDED.organization_id, kind = EXCLUDED.kind,
         client_type = EXCLUDED.client_type, redirect_uris = EXCLUDED.redirect_uris, scope = EXCLUDED.scope, jwks = EXCLUDED.jwks,
         jwks_uri = EXCLUDED.jwks_uri, secret_hash = EXCLUDED.secret_hash, active = EXCLUDED.active, updated_at = now()
       RETURNING *`,
      [input.clientId, name, input.organizationId, KIND_STORED[kind], TYPE_STORED[clientType], redirectUris, scope, jwks ? JSON.stringify(jwks) : null, jwksUri, secretHash, active]);
    await recordChange(tx, author, 'app', input.clientId, changeAction(before, after), before, appView(row!));
    // A deactivated app, or one whose registration narrowed, starts again from nothing: its grants (refresh tokens) end.
    if (existing && (!active || existing.scope !== scope || existing.kind !== KIND_STORED[kind])) await endGrantsOf(tx, { clientId: input.clientId });
    return { row: row!, clientSecret };
  });
}

/** Deactivates an app: it can no longer get tokens, and its grants end. Already inactive, it is returned as it is. */
export async function deactivateApp(db: Database, author: RegistryAuthor, clientId: string): Promise<Row> {
  const existing = await appRow(db, clientId);
  const view = appView(existing);
  return (await upsertApp(db, author, { ...view, active: false })).row;
}

/** A new client secret for a confidential-symmetric app; the old one stops working at once. */
export async function rotateAppSecret(db: Database, author: RegistryAuthor, clientId: string): Promise<{ row: Row; clientSecret: string }> {
  const existing = await appRow(db, clientId);
  if (existing.client_type !== 'confidential-symmetric') throw badInput('Only CONFIDENTIAL_SYMMETRIC apps have a client secret');
  const clientSecret = newSecret();
  return db.transaction(async (tx) => {
    const [row] = await tx.query<Row>('UPDATE smart_app SET secret_hash = $2, updated_at = now() WHERE client_id = $1 RETURNING *', [clientId, hashSecret(clientSecret)]);
    // The log says the secret changed, never what it is.
    await recordChange(tx, author, 'app', clientId, 'updated', { ...appView(existing), secret: 'previous' }, { ...appView(row!), secret: 'rotated' });
    return { row: row!, clientSecret };
  });
}

async function appRow(db: Queryable, clientId: string): Promise<Row> {
  const [row] = await db.query<Row>('SELECT * FROM smart_app WHERE client_id = $1', [clientId]);
  if (!row) throw productError(ErrorCode.notFound, 'No such app');
  return row;
}

/**
 * Ends grants at the authorization server: every artifact (grant, refresh
 * tokens, codes) of the grants of this app, or of this patient's grants to
 * this app. Access tokens already issued are JWTs nobody stores: the consent
 * policy refuses them on their next request once the approval is revoked.
 */
export async function endGrantsOf(tx: Queryable, which: { clientId: string; accountId?: string }): Promise<void> {
  await tx.query(
    `DELETE FROM oauth_artifact WHERE grant_id IN (
       SELECT id FROM oauth_artifact WHERE model = 'Grant' AND client_id = $1 AND ($2::text IS NULL OR account_id = $2))`,
    [which.clientId, which.accountId ?? null]);
}

export const appFields = {
  clientId: (row: Row) => row.client_id,
  organization: (row: Row) => ({ id: row.organization_id }),
  kind: (row: Row) => enumOf(row.kind),
  clientType: (row: Row) => enumOf(row.client_type),
  redirectUris: (row: Row) => row.redirect_uris ?? [],
  jwksUri: (row: Row) => row.jwks_uri,
  jwks: (row: Row) => (row.jwks ? JSON.stringify(row.jwks) : null),
  active: (row: Row) => row.active !== false,
  createdAt: (row: Row) => row.created_at,
  updatedAt: (row: Row) => row.updated_at,
};

/** An app for the authorization server (`/internal/authorization/client`). */
export async function registeredApp(db: Queryable, clientId: unknown): Promise<RegisteredApp | null> {
  if (typeof clientId !== 'string' || !CLIENT_ID.test(clientId)) return null;
  const [row] = await db.query<Row>(
    'SELECT a.*, o.name AS organization_name FROM smart_app a JOIN organization o ON o.id = a.organization_id WHERE a.client_id = $1', [clientId]);
  if (!row) return null;
  return {
    clientId: row.client_id, name: row.name, organizationId: row.organization_id, organizationName: row.organization_name,
    kind: enumOf(row.kind) as AppKind, clientType: enumOf(row.client_type) as ClientType, redirectUris: row.redirect_uris ?? [], scope: row.scope,
    jwks: row.jwks ?? null, jwksUri: row.jwks_uri ?? null, secretHash: row.secret_hash ?? null, active: row.active !== false,
  };
}
