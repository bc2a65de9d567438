/**
 * The alliance's public-health programmes, administered at run time like
 * identity's registry (subgraphs/identity/src/registry.ts): an administrator
 * creates, updates, deactivates and reactivates a programme (never deletes
 * it: enrolments, immunisations and tasks keep naming it). Each change is
 * recorded in `program_change` in the same transaction, with its author,
 * request and the entry before and after. A programme is run by an active
 * organisation of identity's registry.
 */
import type { Database, Queryable } from '../../../lib/runtime/db.js';
import { badInput, ErrorCode, productError } from '../../../lib/runtime/errors.js';
import type { InternalCaller } from '../../../lib/runtime/internal-api.js';
import type { Row } from '../../../lib/records/records.js';
import { REGISTRY_ID, requireRegistered } from '../../../lib/records/registry.js';

const PROGRAM_LOCK = 727_105;
/** A programme's short code: HTN, DM, MCH, EPI, ELD… */
const PROGRAM_CODE = /^[A-Z][A-Z0-9-]{1,19}$/;

export interface ProgramInput {
  id: string;
  code: string;
  name: string;
  organizationId: string;
  /** Omitted: unchanged (a new programme is active). */
  active?: boolean | null;
}

export interface ProgramAuthor {
  sub: string;
  role: string;
  requestId: string;
}

const programView = (row: Row) => ({ id: row.id as string, code: row.code as string, name: row.name as string, organizationId: row.organization_id as string, active: row.active !== false });

/**
 * Creates or updates a programme: a slug id, a unique short code, a name, the
 * organisation that runs it (active in the registry, unless the programme is
 * being deactivated). An upsert that changes nothing writes nothing.
 */
export async function upsertProgram(db: Database, internal: InternalCaller, author: ProgramAuthor, input: ProgramInput): Promise<Row> {
  if (typeof input.id !== 'string' || !REGISTRY_ID.test(input.id)) throw badInput('id must be a slug: lower-case letters and digits in hyphen-separated words, 3 to 64 characters (e.g. prog-htn)', { field: 'id' });
  const code = typeof input.code === 'string' ? input.code.trim().toUpperCase() : '';
  if (!PROGRAM_CODE.test(code)) throw badInput('code must be 2 to 20 capital letters, digits or hyphens, starting with a letter (e.g. HTN)', { field: 'code' });
  const name = typeof input.name === 'string' ? input.name.trim().replace(/\s+/g, ' ') : '';
  if (name.length < 2 || name.length > 200) throw badInput('name must have 2 to 200 characters', { field: 'name' });
  if (input.active != null && typeof input.active !== 'boolean') throw badInput('active must be true or false', { field: 'active' });
  if (typeof input.organizationId !== 'string' || !REGISTRY_ID.test(input.organizationId)) throw badInput('organizationId must be an organisation id of the registry', { field: 'organizationId' });
  const [existing] = await db.query<Row>('SELECT * FROM program WHERE id = $1', [input.id]);
  const active = input.active ?? (existing ? existing.active !== false : true);
  // Run by an organisation of the registry (an active one, for an active programme).
  if (active) await requireRegistered(internal, { organizations: [{ id: input.organizationId, field: 'organizationId' }] });
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [PROGRAM_LOCK]);
    const [current] = await tx.query<Row>('SELECT * FROM program WHERE id = $1', [input.id]);
    const [sameCode] = await tx.query<Row>('SELECT id FROM program WHERE code = $1 AND id <> $2', [code, input.id]);
    if (sameCode) throw productError(ErrorCode.conflict, `Programme ${sameCode.id} already has the code ${code}`);
    const before = current ? programView(current) : null;
    const after = { id: input.id, code, name, organizationId: input.organizationId, active };
    if (before && Object.keys(after).every((key) => (before as Record<string, unknown>)[key] === (after as Record<string, unknown>)[key])) return current!;
    const [row] = await tx.query<Row>(
      `INSERT INTO program (id, code, name, organization_id, active, updated_at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (id) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name, organization_id = EXCLUDED.organization_id, active = EXCLUDED.active, updated_at = now()
       RETURNING *`, [input.id, code, name, input.organizationId, active]);
    const action = !before ? 'created' : before.active && !active ? 'deactivated' : !before.active && active ? 'reactivated' : 'updated';
    await recordProgramChange(tx, author, input.id, action, before, programView(row!));
    return row!;
  });
}

async function recordProgramChange(tx: Queryable, author: ProgramAuthor, programId: string, action: string, before: object | null, after: object): Promise<void> {
  await tx.query(
    `INSERT INTO program_change (request_id, actor_sub, actor_role, program_id, action, before, after) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)`,
    [author.requestId, author.sub, author.role, programId, action, before ? JSON.stringify(before) : null, JSON.stringify(after)]);
}

/** Deactivates a programme (no new enrolments name it; what names it keeps resolving); already inactive, it is returned as it is. */
export async function deactivateProgram(db: Database, internal: InternalCaller, author: ProgramAuthor, id: string): Promise<Row> {
  const [existing] = await db.query<Row>('SELECT * FROM program WHERE id = $1', [id]);
  if (!existing) throw productError(ErrorCode.notFound, 'No such programme');
  return upsertProgram(db, internal, author, { ...programView(existing), active: false });
}

/** The changes of one programme (or all), newest first, at most `first` (1–100, default 20). */
export async function programChanges(db: Queryable, programId: string | null | undefined, first: number | null | undefined): Promise<Row[]> {
  const limit = Math.min(Math.max(first ?? 20, 1), 100);
  return db.query<Row>('SELECT * FROM program_change WHERE ($1::text IS NULL OR program_id = $1) ORDER BY seq DESC LIMIT $2', [programId ?? null, limit]);
}
