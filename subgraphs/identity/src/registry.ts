/**
 * The alliance registry, kept by identity and administered at run time:
 * organisations and practitioners are created, updated, deactivated and
 * reactivated (never deleted: the records that name them keep resolving).
 *
 * These functions are the only way an entry is written: the administrators'
 * mutations call them, and so does the demo seed (subgraphs/identity/src/
 * seed.ts), so every entry, demo or not, went through the same validation and
 * left the same trace. Each change is recorded in `registry_change` in the same
 * transaction, with its author, request and the entry before and after;
 * changes are serialised by an advisory lock (they are rare, and a hierarchy
 * check must not race another).
 *
 * The other subgraphs read the registry through `/internal/registry`
 * (lib/records/registry.ts), which `registryEntries` answers.
 */
import { normalisePageArgs, type PageArgs } from '../../../lib/records/connection.js';
import type { Database, Queryable } from '../../../lib/runtime/db.js';
import { badInput, ErrorCode, productError } from '../../../lib/runtime/errors.js';
import type { Row } from '../../../lib/records/records.js';
import { REGISTRY_ID, registryRequestOf, type RegistryAnswer } from '../../../lib/records/registry.js';

const REGISTRY_LOCK = 727_002;

/** OrganizationType values (stored lower-kebab: county-hospital). */
export const ORGANIZATION_TYPES = ['PROVINCIAL_HOSPITAL', 'COUNTY_HOSPITAL', 'SPECIALTY_HOSPITAL', 'TOWNSHIP_HEALTH_CENTRE', 'PUBLIC_HEALTH_AGENCY'] as const;
/** PractitionerRole values (stored lower-case: public_health). */
export const PRACTITIONER_ROLES = ['CLINICIAN', 'NURSE', 'RADIOLOGIST', 'PUBLIC_HEALTH'] as const;

export const organizationTypeOf = (stored: string) => String(stored).toUpperCase().replace(/-/g, '_');
export const practitionerRoleOf = (stored: string) => String(stored).toUpperCase();

export interface OrganizationInput {
  id: string;
  name: string;
  type: string;
  partOf?: string | null;
  city?: string | null;
  /** Omitted: unchanged (a new entry is active). */
  active?: boolean | null;
}

export interface PractitionerInput {
  id: string;
  organizationId: string;
  family: string;
  given: string;
  role: string;
  /** Omitted: unchanged (a new entry is active). */
  active?: boolean | null;
}

/** Who makes a change, in which request: an administrator through the API, or the demo seed. */
export interface RegistryAuthor {
  sub: string;
  role: string;
  requestId: string;
}

export type ChangeAction = 'created' | 'updated' | 'deactivated' | 'reactivated';

/** An organisation as the API, the change log and the registry API show it. */
const organizationView = (row: Row) => ({
  id: row.id as string, name: row.name as string, type: organizationTypeOf(row.type), partOf: (row.part_of ?? null) as string | null,
  city: (row.city ?? null) as string | null, active: row.active !== false,
});
const practitionerView = (row: Row) => ({
  id: row.id as string, organizationId: row.organization_id as string, family: row.family as string, given: row.given as string,
  role: practitionerRoleOf(row.role), active: row.active !== false,
});

const registryId = (value: unknown, field: string): string => {
  if (typeof value !== 'string' || !REGISTRY_ID.test(value)) {
    throw badInput(`${field} must be a slug: lower-case letters and digits in hyphen-separated words, 3 to 64 characters (e.g. org-county-north)`, { field });
  }
  return value;
};

export const text = (value: unknown, field: string, max: number, required: boolean): string | null => {
  const trimmed = typeof value === 'string' ? value.trim().replace(/\s+/g, ' ') : '';
  if (!trimmed) {
    if (required) throw badInput(`${field} is required`, { field });
    return null;
  }
  if (trimmed.length > max) throw badInput(`${field} is longer than ${max} characters`, { field });
  return trimmed;
};

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string): T {
  if (!(allowed as readonly unknown[]).includes(value)) throw badInput(`${field} must be one of ${allowed.join(', ')}`, { field });
  return value as T;
}

export function changeAction(before: { active: boolean } | null, after: { active: boolean }): ChangeAction {
  if (!before) return 'created';
  if (before.active && !after.active) return 'deactivated';
  if (!before.active && after.active) return 'reactivated';
  return 'updated';
}

export const sameEntry = (a: Record<string, unknown>, b: Record<string, unknown>) => Object.keys(b).every((key) => a[key] === b[key]);

/** Appends one change to the registry change log (inside the change's transaction). */
export async function recordChange(tx: Queryable, author: RegistryAuthor, entityType: 'organization' | 'practitioner' | 'app', entityId: string,
  action: ChangeAction, before: object | null, after: object): Promise<void> {
  await tx.query(
    `INSERT INTO registry_change (request_id, actor_sub, actor_role, entity_type, entity_id, action, before, after)
     VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)`,
    [author.requestId, author.sub, author.role, entityType, entityId, action, before ? JSON.stringify(before) : null, JSON.stringify(after)]);
}

/**
 * Creates or updates an organisation. The id is a slug; `partOf` must be an
 * organisation of the registry (active, unless this one is being
 * deactivated), neither itself nor one of its own members; the type is an
 * OrganizationType. Deactivating refuses (CONFLICT) while active practitioners
 * work there or active organisations belong to it. An upsert that changes
 * nothing writes nothing.
 */
export async function upsertOrganization(db: Database, author: RegistryAuthor, input: OrganizationInput): Promise<Row> {
  const id = registryId(input.id, 'id');
  const name = text(input.name, 'name', 200, true)!;
  if (name.length < 2) throw badInput('name must have at least 2 characters', { field: 'name' });
  const type = oneOf(input.type, ORGANIZATION_TYPES, 'type');
  const partOf = input.partOf == null ? null : registryId(input.partOf, 'partOf');
  if (partOf === id) throw badInput('partOf: an organisation is not part of itself', { field: 'partOf' });
  const city = text(input.city, 'city', 100, false);
  if (input.active != null && typeof input.active !== 'boolean') throw badInput('active must be true or false', { field: 'active' });
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [REGISTRY_LOCK]);
    const [existing] = await tx.query<Row>('SELECT * FROM organization WHERE id = $1', [id]);
    const active = input.active ?? (existing ? existing.active !== false : true);
    if (partOf) {
      const [parent] = await tx.query<Row>('SELECT id, active FROM organization WHERE id = $1', [partOf]);
      if (!parent) throw badInput(`partOf: ${partOf} is not an organisation of the alliance registry`, { field: 'partOf' });
      if (active && parent.active === false) throw badInput(`partOf: ${partOf} is no longer an active organisation of the alliance`, { field: 'partOf' });
      if (existing) {
        // Would this organisation end up among its own parents?
        const [cycle] = await tx.query(
          `WITH RECURSIVE up(id, part_of, depth) AS (
             SELECT id, part_of, 1 FROM organization WHERE id = $1
             UNION ALL SELECT o.id, o.part_of, up.depth + 1 FROM organization o JOIN up ON o.id = up.part_of WHERE up.depth < 100)
           SELECT 1 FROM up WHERE id = $2 LIMIT 1`, [partOf, id]);
        if (cycle) throw badInput(`partOf: ${partOf} belongs to ${id}; an organisation is not part of its own members`, { field: 'partOf' });
      }
    }
    if (existing && existing.active !== false && !active) await assertMayDeactivateOrganization(tx, id);
    const before = existing ? organizationView(existing) : null;
    const after = { id, name, type, partOf, city, active };
    if (before && sameEntry(before, after)) return existing!;
    const [row] = await tx.query<Row>(
      `INSERT INTO organization (id, name, type, part_of, city, active, updated_at) VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, type = EXCLUDED.type, part_of = EXCLUDED.part_of, city = EXCLUDED.city,
         active = EXCLUDED.active, updated_at = now()
       RETURNING *`,
      [id, name, type.toLowerCase().replace(/_/g, '-'), partOf, city, active]);
    await recordChange(tx, author, 'organization', id, changeAction(before, after), before, organizationView(row!));
    return row!;
  });
}

async function assertMayDeactivateOrganization(tx: Queryable, id: string): Promise<void> {
  const [counts] = await tx.query<{ practitioners: number; members: number }>(
    `SELECT (SELECT count(*)::int FROM practitioner WHERE organization_id = $1 AND active) AS practitioners,
            (SELECT count(*)::int FROM organization WHERE part_of = $1 AND active) AS members`, [id]);
  if (counts!.practitioners > 0 || counts!.members > 0) {
    throw productError(ErrorCode.conflict,
      `${id} still has ${counts!.practitioners} active practitioner(s) and ${counts!.members} active member organisation(s): deactivate or move them first`);
  }
}

/**
 * Creates or updates a practitioner: a slug id, the organisation they work
 * for (an active organisation of the registry, unless the practitioner is
 * being deactivated), names, a PractitionerRole. An upsert that changes
 * nothing writes nothing.
 */
export async function upsertPractitioner(db: Database, author: RegistryAuthor, input: PractitionerInput): Promise<Row> {
  const id = registryId(input.id, 'id');
  const organizationId = registryId(input.organizationId, 'organizationId');
  const family = text(input.family, 'family', 100, true)!;
  const given = text(input.given, 'given', 100, true)!;
  const role = oneOf(input.role, PRACTITIONER_ROLES, 'role');
  if (input.active != null && typeof input.active !== 'boolean') throw badInput('active must be true or false', { field: 'active' });
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [REGISTRY_LOCK]);
    const [existing] = await tx.query<Row>('SELECT * FROM practitioner WHERE id = $1', [id]);
    const active = input.active ?? (existing ? existing.active !== false : true);
    const [organization] = await tx.query<Row>('SELECT id, active FROM organization WHERE id = $1', [organizationId]);
    if (!organization) throw badInput(`organizationId: ${organizationId} is not an organisation of the alliance registry`, { field: 'organizationId' });
    if (active && organization.active === false) throw badInput(`organizationId: ${organizationId} is no longer an active organisation of the alliance`, { field: 'organizationId' });
    const before = existing ? practitionerView(existing) : null;
    const after = { id, organizationId, family, given, role, active };
    if (before && sameEntry(before, after)) return existing!;
    const [row] = await tx.query<Row>(
      `INSERT INTO practitioner (id, organization_id, family, given, role, active, updated_at) VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (id) DO UPDATE SET organization_id = EXCLUDED.organization_id, family = EXCLUDED.family, given = EXCLUDED.given,
         role = EXCLUDED.role, active = EXCLUDED.active, updated_at = now()
       RETURNING *`,
      [id, organizationId, family, given, role.toLowerCase(), active]);
    await recordChange(tx, author, 'practitioner', id, changeAction(before, after), before, practitionerView(row!));
    return row!;
  });
}

const notFound = (what: string) => productError(ErrorCode.notFound, `No such ${what} in the registry`);

/** Deactivates an organisation (see upsertOrganization for when that is refused); already inactive, it is returned as it is. */
export async function deactivateOrganization(db: Database, author: RegistryAuthor, id: string): Promise<Row> {
  const [existing] = await db.query<Row>('SELECT * FROM organization WHERE id = $1', [id]);
  if (!existing) throw notFound('organisation');
  return upsertOrganization(db, author, { ...organizationView(existing), active: false });
}

/** Deactivates a practitioner; already inactive, they are returned as they are. */
export async function deactivatePractitioner(db: Database, author: RegistryAuthor, id: string): Promise<Row> {
  const [existing] = await db.query<Row>('SELECT * FROM practitioner WHERE id = $1', [id]);
  if (!existing) throw notFound('practitioner');
  return upsertPractitioner(db, author, { ...practitionerView(existing), active: false });
}

/** `/internal/registry`: the entries among those asked, active or not (the caller decides what it accepts). */
export async function registryEntries(db: Queryable, body: unknown): Promise<RegistryAnswer> {
  const { organizationIds, practitionerIds } = registryRequestOf(body);
  const [organizations, practitioners] = await Promise.all([
    organizationIds.length ? db.query<Row>('SELECT id, type, part_of, active FROM organization WHERE id = ANY($1::text[])', [organizationIds]) : [],
    practitionerIds.length ? db.query<Row>('SELECT id, organization_id, role, active FROM practitioner WHERE id = ANY($1::text[])', [practitionerIds]) : [],
  ]);
  return {
    organizations: organizations.map((o) => ({ id: o.id, type: organizationTypeOf(o.type), partOf: o.part_of ?? null, active: o.active !== false })),
    practitioners: practitioners.map((p) => ({ id: p.id, organizationId: p.organization_id, role: practitionerRoleOf(p.role), active: p.active !== false })),
  };
}

export interface RegistryChangeFilter {
  entityType?: 'ORGANIZATION' | 'PRACTITIONER' | null;
  entityId?: string | null;
}

const encodeSeq = (seq: string | number) => Buffer.from(`registry:${seq}`).toString('base64url');
function decodeSeq(cursor: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^registry:\d{1,18}$/.test(text)) throw badInput('Invalid cursor: pass an endCursor returned by this field');
  return text.slice('registry:'.length);
}

/** A page of registry changes, newest first. */
export async function registryChangePage(db: Queryable, filter: RegistryChangeFilter, args: PageArgs) {
  const { first } = normalisePageArgs({ first: args.first });
  const rows = await db.query<Row>(
    `SELECT * FROM registry_change
     WHERE ($1::text IS NULL OR entity_type = $1) AND ($2::text IS NULL OR entity_id = $2) AND ($3::bigint IS NULL OR seq < $3)
     ORDER BY seq DESC LIMIT $4`,
    [filter.entityType ? filter.entityType.toLowerCase() : null, filter.entityId ?? null, args.after ? decodeSeq(args.after) : null, first + 1]);
  const page = rows.slice(0, first);
  return {
    edges: page.map((node) => ({ cursor: encodeSeq(node.seq), node })),
    pageInfo: { hasNextPage: rows.length > first, endCursor: page.length ? encodeSeq(page.at(-1)!.seq) : null },
  };
}

export const registryChangeFields = {
  sequence: (row: Row) => String(row.seq),
  occurredAt: (row: Row) => row.occurred_at,
  requestId: (row: Row) => row.request_id,
  actorSub: (row: Row) => row.actor_sub,
  actorRole: (row: Row) => row.actor_role,
  entityType: (row: Row) => String(row.entity_type).toUpperCase(),
  entityId: (row: Row) => row.entity_id,
  action: (row: Row) => String(row.action).toUpperCase(),
  before: (row: Row) => (row.before ? JSON.stringify(row.before) : null),
  after: (row: Row) => JSON.stringify(row.after),
};
