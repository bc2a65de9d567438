/**
 * A programme's cohort, for the FHIR Bulk Data export (gateway/src/fhir/bulk/):
 * a programme is a FHIR Group whose members are its enrolled patients.
 *
 * Who may list it: public_health staff of the organisation running the
 * programme (every enrolment), and staff or an institution's system of an
 * organisation responsible for enrolments in it (the enrolments it is
 * responsible for) — the reach of the immunisation due list. Break-glass is
 * for one patient's emergency, never for a population list.
 *
 * Each entry is the patient's current enrolment (in force now), listed only
 * when the consent policy lets the caller see the enrolment (`programs`) and
 * reach the patient; listing it discloses the enrolment (audited). Pages are
 * ordered by patient id; a page may hold fewer than `first` entries (some
 * were not visible) while `hasNextPage` is true.
 */
import { isStaff, type Actor } from '../../../lib/trust/actor.js';
import { isUuid, maySee, type Page } from '../../../lib/records/connection.js';
import { badInput, ErrorCode, forbidden, productError } from '../../../lib/runtime/errors.js';
import type { Row } from '../../../lib/records/records.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { ENROLLMENT } from './access.js';

export interface ProgramCohortArgs {
  programId: string;
  first?: number | null;
  after?: string | null;
}

const MAX_COHORT_PAGE = 1000;

/** Clinicians, nurses and institutions' systems (which read as their organisation's staff, consent rule 7). */
const staffLike = (actor: Actor) => isStaff(actor) || actor.role === 'system';

const encode = (patientId: string) => Buffer.from(JSON.stringify(['cohort', patientId])).toString('base64url');
function decode(cursor: string): string {
  try {
    const [tag, patientId] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown];
    if (tag !== 'cohort' || !isUuid(patientId)) throw new Error();
    return patientId as string;
  } catch {
    throw badInput('Invalid cursor: pass an endCursor returned by this field');
  }
}

function refuseBreakGlass(context: SubgraphContext): void {
  const { actor } = context;
  if (!staffLike(actor) && actor.role !== 'public_health') throw forbidden('Only public-health staff of the programme and the organisations responsible for its enrolments list its cohort');
  if (actor.purposeOfUse === 'ETREAT') throw forbidden('Break-glass access is for one patient\'s emergency care, not for programme cohorts');
}

/** The programmes whose cohort the caller may list. */
export async function cohortPrograms(context: SubgraphContext): Promise<Row[]> {
  const { actor } = context;
  if (!actor.org || actor.purposeOfUse === 'ETREAT' || (!staffLike(actor) && actor.role !== 'public_health')) return [];
  return context.db.query<Row>(
    actor.role === 'public_health'
      ? 'SELECT * FROM program p WHERE p.organization_id = $1 ORDER BY p.id'
      : 'SELECT * FROM program p WHERE EXISTS (SELECT 1 FROM program_enrollment e WHERE e.program_id = p.id AND e.organization_id = $1) ORDER BY p.id',
    [actor.org],
  );
}

/**
 * The programme `programId`, where the caller's organisation may read its
 * enrolments (its cohort, its due list): public-health staff of the
 * organisation running it, other staff of an organisation responsible for an
 * enrolment in it. NOT_FOUND without it; FORBIDDEN otherwise, `what` saying
 * what public-health staff of another organisation may not do.
 */
export async function programReadBy(context: SubgraphContext, programId: string, what: string): Promise<Row> {
  const { actor } = context;
  const [program] = await context.db.query<Row>(
    `SELECT p.id, p.organization_id,
       EXISTS (SELECT 1 FROM program_enrollment e WHERE e.program_id = p.id AND e.organization_id = $2) AS responsible
     FROM program p WHERE p.id = $1`,
    [programId, actor.org],
  );
  if (!program) throw productError(ErrorCode.notFound, 'No such programme');
  const publicHealth = actor.role === 'public_health';
  if (publicHealth ? program.organization_id !== actor.org : !program.responsible) {
    throw forbidden(publicHealth ? `Only public-health staff of the organisation running the programme ${what}` : 'Your organisation is not responsible for any enrolment in this programme');
  }
  return program;
}

export async function programCohort(context: SubgraphContext, args: ProgramCohortArgs): Promise<Page<Row>> {
  const first = args.first ?? 100;
  if (!Number.isInteger(first) || first < 1 || first > MAX_COHORT_PAGE) throw badInput(`first must be between 1 and ${MAX_COHORT_PAGE}`);
  const after = args.after ? decode(args.after) : null;
  refuseBreakGlass(context);
  const { actor } = context;
  const staff = actor.role !== 'public_health';
  const program = await programReadBy(context, args.programId, 'list its cohort');
  const now = context.consent.now.toISOString();
  const rows = await context.db.query<Row>(
    `SELECT DISTINCT ON (e.patient_id) e.* FROM program_enrollment e
     WHERE e.program_id = $1 AND ($2::text IS NULL OR e.organization_id = $2)
       AND ($3::uuid IS NULL OR e.patient_id > $3::uuid)
       AND e.period_start <= $4::timestamptz
       AND (e.period_end > $4::timestamptz OR (e.period_end IS NULL AND e.status = 'active'))
     ORDER BY e.patient_id, e.period_start DESC, e.id DESC
     LIMIT $5`,
    [program.id, staff ? actor.org : null, after, now, first + 1],
  );
  const candidates = rows.slice(0, first);
  const admitted = await Promise.all(candidates.map(async (row) =>
    (await maySee(context, ENROLLMENT, row)) && (await context.consent.mayReachPatient(String(row.patient_id)))));
  const edges = candidates.filter((_, i) => admitted[i]).map((node) => {
    // The list discloses the enrolment (its cursor names the patient), whatever fields are selected.
    context.consent.disclose(String(node.patient_id), ENROLLMENT.category, String(node.id), false);
    return { cursor: encode(String(node.patient_id)), node };
  });
  // The position reached is the last candidate read, visible or not, so the next page continues after it.
  const last = candidates.at(-1);
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: last ? encode(String(last.patient_id)) : null } };
}
