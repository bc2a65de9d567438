/**
 * Identity's side of the SMART authorization server (gateway/src/smart/):
 * the internal APIs the gateway calls, and nobody else (INTERNAL_APIS).
 *
 * - the server's artifacts (oidc-provider's adapter: interactions, sessions,
 *   codes, grants, refresh tokens, replay detection) in `oauth_artifact`, so
 *   every gateway replica sees the same state and a restart loses nothing;
 * - registered apps (client metadata) and the accounts people sign in with
 *   (a patient by id or health card, a practitioner of the registry);
 * - the patient's approval of an app: a consent directive permitting the
 *   app's client_id the categories of the approved scopes, audited like any
 *   consent change, linked to the grant its tokens come from.
 */
import { isUuid } from '../../../lib/records/connection.js';
import type { Actor } from '../../../lib/trust/actor.js';
import type { Database, Queryable } from '../../../lib/runtime/db.js';
import { badInput, ErrorCode, forbidden, productError } from '../../../lib/runtime/errors.js';
import type { Row } from '../../../lib/records/records.js';
import { categoriesOfScopes } from '../../../lib/trust/scopes.js';
import type { AccountRequest, ApprovalRequest, SignInAccount } from '../../../lib/trust/smart-apps.js';
import { SYSTEM } from '../../../lib/records/terminology.js';
import { appendAuditEventsIn } from './audit.js';
import { endGrantsOf, registeredApp } from './apps.js';

/** oidc-provider model names (Client is not stored here: apps come from smart_app). */
const MODEL = /^(?!Client$)[A-Za-z]{1,40}$/;
const ARTIFACT_ID = /^[\w\-.:]{1,200}$/;
/** Expired artifacts removed per write: the table cleans itself as it is used. */
const SWEEP_BATCH = 20;

export interface StoreRequest {
  op: 'upsert' | 'find' | 'findByUid' | 'consume' | 'destroy' | 'revokeByGrantId';
  model: string;
  id?: string;
  payload?: Record<string, unknown>;
  expiresIn?: number;
}

const str = (value: unknown) => (typeof value === 'string' && value.length <= 200 ? value : null);

/** `/internal/authorization/store`: one adapter operation. */
export async function authorizationStore(db: Queryable, body: unknown): Promise<{ payload?: Record<string, unknown> | null; consumed?: boolean }> {
  const request = (body ?? {}) as StoreRequest;
  if (typeof request.model !== 'string' || !MODEL.test(request.model)) throw badInput('unknown model');
  const id = request.id;
  if (typeof id !== 'string' || !ARTIFACT_ID.test(id)) throw badInput('invalid id');
  switch (request.op) {
    case 'upsert': {
      const payload = request.payload;
      if (!payload || typeof payload !== 'object') throw badInput('payload required');
      const expiresIn = Number.isFinite(request.expiresIn) && request.expiresIn! > 0 ? Math.ceil(request.expiresIn!) : null;
      const grantId = request.model === 'Grant' ? id : str(payload.grantId);
      await db.query(
        `INSERT INTO oauth_artifact (model, id, payload, grant_id, uid, account_id, client_id, expires_at)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, CASE WHEN $8::int IS NULL THEN NULL ELSE now() + make_interval(secs => $8::int) END)
         ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id, uid = EXCLUDED.uid,
           account_id = EXCLUDED.account_id, client_id = EXCLUDED.client_id, expires_at = EXCLUDED.expires_at`,
        [request.model, id, JSON.stringify(payload), grantId, str(payload.uid), str(payload.accountId), str(payload.clientId), expiresIn]);
      await db.query(`DELETE FROM oauth_artifact WHERE (model, id) IN (SELECT model, id FROM oauth_artifact WHERE expires_at < now() LIMIT ${SWEEP_BATCH})`);
      return {};
    }
    case 'find':
    case 'findByUid': {
      const [row] = await db.query<Row>(
        `SELECT payload, consumed_at FROM oauth_artifact WHERE model = $1 AND ${request.op === 'find' ? 'id' : 'uid'} = $2
           AND (expires_at IS NULL OR expires_at > now())`, [request.model, id]);
      if (!row) return { payload: null };
      return { payload: { ...(row.payload as Record<string, unknown>), ...(row.consumed_at ? { consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) } : {}) } };
    }
    case 'consume': {
      // Atomic: of two requests exchanging the same code at once, one consumes it; the other is told it was used.
      const rows = await db.query('UPDATE oauth_artifact SET consumed_at = now() WHERE model = $1 AND id = $2 AND consumed_at IS NULL RETURNING 1', [request.model, id]);
      return { consumed: rows.length === 1 };
    }
    case 'destroy':
      await db.query('DELETE FROM oauth_artifact WHERE model = $1 AND id = $2', [request.model, id]);
      return {};
    case 'revokeByGrantId':
      await db.query('DELETE FROM oauth_artifact WHERE grant_id = $1', [id]);
      return {};
    default:
      throw badInput('unknown operation');
  }
}

/** `/internal/authorization/client`: a registered app, or null. */
export const authorizationClient = (db: Queryable, body: unknown) => registeredApp(db, (body as { clientId?: unknown } | null)?.clientId);

const ROLE_OF_PRACTITIONER: Record<string, SignInAccount['role']> = { clinician: 'clinician', radiologist: 'clinician', nurse: 'nurse', public_health: 'public_health' };

const patientAccount = (row: Row): SignInAccount => ({ accountId: row.id, kind: 'patient', role: 'app', org: null, name: `${row.family} ${(row.given as string[]).join(' ')}` });
const practitionerAccount = (row: Row): SignInAccount => ({
  accountId: row.id, kind: 'practitioner', role: ROLE_OF_PRACTITIONER[row.role] ?? 'clinician', org: row.organization_id, name: `${row.family} ${row.given}`,
});

/** A patient by id (a merged-away id answers with the survivor). */
async function patientById(db: Queryable, id: string): Promise<SignInAccount | null> {
  if (!isUuid(id)) return null;
  const [row] = await db.query<Row>('SELECT p.* FROM patient asked JOIN patient p ON p.id = COALESCE(asked.merged_into, asked.id) WHERE asked.id = $1', [id]);
  return row ? patientAccount(row) : null;
}

async function practitionerById(db: Queryable, id: string, organizationId?: string | null): Promise<SignInAccount | null> {
  const [row] = await db.query<Row>('SELECT * FROM practitioner WHERE id = $1 AND active', [id]);
  if (!row || (organizationId && row.organization_id !== organizationId)) return null;
  return practitionerAccount(row);
}

/** How many demo accounts the development sign-in page lists. */
const DEMO_PATIENTS = 12;

/** `/internal/authorization/account`: who signs in (see AccountRequest). */
export async function authorizationAccount(db: Queryable, body: unknown): Promise<{ account?: SignInAccount | null; accounts?: SignInAccount[]; approved?: boolean }> {
  const request = (body ?? {}) as AccountRequest;
  switch (request.op) {
    case 'find': {
      const id = String(request.accountId ?? '').slice(0, 100);
      return { account: (await patientById(db, id)) ?? (await practitionerById(db, id)) };
    }
    case 'health-card': {
      const value = String(request.value ?? '').trim().slice(0, 100);
      const [row] = await db.query<Row>('SELECT patient_id FROM patient_identifier WHERE system = $1 AND value = $2', [SYSTEM.healthCard, value]);
      return { account: row ? await patientById(db, row.patient_id) : null };
    }
    case 'practitioner':
      return { account: await practitionerById(db, String(request.practitionerId ?? '').slice(0, 100), request.organizationId) };
    case 'demo': {
      const [patients, practitioners] = await Promise.all([
        db.query<Row>(`SELECT * FROM patient WHERE merged_into IS NULL ORDER BY family, given, id LIMIT ${DEMO_PATIENTS}`),
        db.query<Row>(`SELECT DISTINCT ON (organization_id, role) * FROM practitioner WHERE active ORDER BY organization_id, role, id`),
      ]);
      return { accounts: [...patients.map(patientAccount), ...practitioners.map(practitionerAccount)] };
    }
    case 'approved': {
      if (!isUuid(request.patientId)) return { approved: false };
      // The same test as consent rule 3's: an active permit naming the app, and no deny of it for everything.
      const [row] = await db.query<Row>(
        `SELECT bool_or(decision = 'permit') AS permit, bool_or(decision = 'deny' AND categories = '{}' AND labels = '{}') AS denied FROM consent_directive
         WHERE patient_id = $1 AND actor_type = 'app' AND actor_id = $2 AND (revoked_at IS NULL OR revoked_at > now())
           AND (period_start IS NULL OR period_start <= now()) AND (period_end IS NULL OR period_end > now())`,
        [request.patientId, String(request.clientId ?? '')]);
      return { approved: Boolean(row?.permit) && !row?.denied };
    }
    default:
      throw badInput('unknown operation');
  }
}

/**
 * `/internal/authorization/approval`: the patient signed in at the
 * authorization server approved `scope` for the app. Recorded as a permit for
 * the app's client_id covering the categories of those scopes, audited, and
 * linked to the grant. An approval replaces the patient's earlier approvals
 * of the same app (revoked, audited, their grants ended): what the patient
 * approved last is what the app has.
 */
export async function recordApproval(db: Database, actor: Actor, requestId: string, body: unknown): Promise<{ directiveId: string }> {
  const request = (body ?? {}) as ApprovalRequest;
  if (actor.role !== 'patient' || !actor.patient) throw forbidden('Approvals are the patient\'s');
  const patientId = actor.patient;
  const app = await registeredApp(db, request.clientId);
  if (!app || !app.active || app.kind !== 'PATIENT_APP') throw productError(ErrorCode.notFound, 'No such patient app');
  if (typeof request.scope !== 'string' || request.scope.length > 4000 || typeof request.grantId !== 'string' || !ARTIFACT_ID.test(request.grantId)) throw badInput('scope and grantId required');
  const categories = categoriesOfScopes(request.scope);
  if (!categories.length) throw badInput('An approval covers at least one kind of record');
  return db.transaction(async (tx) => {
    const previous = await tx.query<Row>(
      `UPDATE consent_directive SET revoked_at = now(), revoked_by = $3, revoked_by_role = 'patient'
       WHERE id IN (SELECT directive_id FROM smart_app_approval WHERE patient_id = $1 AND client_id = $2) AND revoked_at IS NULL RETURNING *`,
      [patientId, app.clientId, actor.sub]);
    await tx.query(
      `DELETE FROM oauth_artifact WHERE grant_id IN (
         SELECT id FROM oauth_artifact WHERE model = 'Grant' AND client_id = $1 AND account_id = $2 AND id <> $3)`,
      [app.clientId, patientId, request.grantId]);
    const [directive] = await tx.query<Row>(
      `INSERT INTO consent_directive (patient_id, decision, actor_type, actor_id, categories, recorded_by, recorded_by_role)
       VALUES ($1, 'permit', 'app', $2, $3::text[], $4, 'patient') RETURNING *`,
      [patientId, app.clientId, categories, actor.sub]);
    await tx.query('INSERT INTO smart_app_approval (directive_id, patient_id, client_id, scope, grant_id) VALUES ($1, $2, $3, $4, $5)',
      [directive!.id, patientId, app.clientId, request.scope, request.grantId]);
    const details = (row: Row) => ({
      directiveId: row.id, decision: row.decision, actorType: row.actor_type, actorId: row.actor_id, categories: row.categories, labels: row.labels,
      purposes: row.purposes, recordedBy: row.recorded_by, recordedByRole: row.recorded_by_role, recordedAtOrganizationId: null, attestation: null,
      approvedScope: request.scope,
    });
    await appendAuditEventsIn(tx, actor, requestId, [
      ...previous.map((row) => ({ patientId, recordCounts: { consents: 1 }, breakGlass: false, action: 'consent-revoked' as const, details: details(row) })),
      { patientId, recordCounts: { consents: 1 }, breakGlass: false, action: 'consent-granted' as const, details: details(directive!) },
    ]);
    return { directiveId: directive!.id as string };
  });
}

/** When a patient revokes a permit for an app (however it was given), the app's grants from that patient end: refresh tokens stop working. */
export async function endAppGrantsOnRevocation(tx: Queryable, directive: Row): Promise<void> {
  if (directive.actor_type === 'app' && directive.decision === 'permit' && directive.actor_id) {
    await endGrantsOf(tx, { clientId: directive.actor_id, accountId: directive.patient_id });
  }
}
