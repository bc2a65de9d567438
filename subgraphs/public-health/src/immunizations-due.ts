/**
 * The immunisation due list of a programme (FHIR ImmunizationRecommendation,
 * forecast status due / overdue): the programme's schedule applied to each
 * enrolled child's birth date, minus the doses already given.
 *
 * Who may ask: public_health staff of the organisation running the programme
 * (every enrolled child), and clinicians and nurses of an organisation
 * responsible for enrolments in it (the children it is responsible for).
 * Break-glass is for one patient's emergency, not for population lists.
 *
 * Each entry is a record of the child's enrolment (its organisation and
 * sensitivity labels): it is listed only when the consent policy lets the
 * actor see the enrolment (`programs`), the child's immunisations
 * (`immunizations`) and reach the child; a due date reveals the birth date,
 * which identity gives only as the actor may see it (the patient's record,
 * or the birth date their own organisation registered). Fields are then checked again by the shield rules
 * (ImmunizationDue is a record type of category `immunizations`), and the
 * supporting last dose is an Immunization the actor must be able to see.
 *
 * Birth dates are identity's: they come from its internal API (one call per
 * 1000 children in scope), never from its tables. Ordering by due date over
 * the whole programme needs every candidate child's birth date, so a page
 * costs a fixed number of SQL statements here (programme, candidates, the
 * page, the supporting doses) and internal calls that grow with the children
 * in scope, not with their history.
 */
import { isStaff } from '../../../lib/trust/actor.js';
import { fetchBirthDates } from '../../../lib/records/birth-dates.js';
import { isUuid, maySee, normalisePageArgs, type Page } from '../../../lib/records/connection.js';
import { PATIENT_RECORD } from '../../../lib/consent/record-access.js';
import { badInput, forbidden } from '../../../lib/runtime/errors.js';
import type { Row } from '../../../lib/records/records.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { ENROLLMENT, IMMUNIZATION } from './access.js';
import { programReadBy } from './cohort.js';

export type ImmunizationDueStatus = 'DUE' | 'OVERDUE';

export interface ImmunizationsDueArgs {
  programId: string;
  asOf?: Date | null;
  status?: ImmunizationDueStatus | null;
  first?: number | null;
  after?: string | null;
}

interface DuePosition {
  dueDate: string;
  patientId: string;
  seq: number;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function encodeDueCursor(position: DuePosition): string {
  return Buffer.from(JSON.stringify([position.dueDate, position.patientId, position.seq])).toString('base64url');
}

export function decodeDueCursor(cursor: string): DuePosition {
  try {
    const [dueDate, patientId, seq] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [unknown, unknown, unknown];
    if (typeof dueDate !== 'string' || !DATE.test(dueDate) || Number.isNaN(Date.parse(dueDate))) throw new Error();
    if (!isUuid(patientId) || !Number.isInteger(seq) || (seq as number) < 0 || (seq as number) > 1_000_000) throw new Error();
    return { dueDate, patientId, seq: seq as number };
  } catch {
    throw badInput('Invalid cursor: pass an endCursor returned by this field');
  }
}

const EMPTY_PAGE: Page<Row> = { edges: [], pageInfo: { hasNextPage: false, endCursor: null } };

export async function immunizationsDue(context: SubgraphContext, args: ImmunizationsDueArgs): Promise<Page<Row>> {
  const { first } = normalisePageArgs({ first: args.first });
  const after = args.after ? decodeDueCursor(args.after) : null;
  const asOf = args.asOf ?? context.consent.now;
  const asOfDate = asOf.toISOString().slice(0, 10);
  const { actor } = context;
  const staff = isStaff(actor);
  if (!staff && actor.role !== 'public_health') throw forbidden('Only public-health staff of the programme and the care teams responsible for its enrolments see its due list');
  if (actor.purposeOfUse === 'ETREAT') throw forbidden('Break-glass access is for one patient\'s emergency care, not for programme due lists');

  const program = await programReadBy(context, args.programId, 'see its due list');

  // Children enrolled at asOf (one enrolment each; staff: those their
  // organisation is responsible for) still missing a scheduled dose.
  const enrollments = await context.db.query<Row>(
    `SELECT DISTINCT ON (e.patient_id) e.* FROM program_enrollment e
     WHERE e.program_id = $1 AND ($2::text IS NULL OR e.organization_id = $2)
       AND e.period_start <= $3::timestamptz
       AND (e.period_end > $3::timestamptz OR (e.period_end IS NULL AND e.status = 'active'))
       AND EXISTS (
         SELECT 1 FROM immunization_schedule s
         WHERE s.program_id = e.program_id
           AND NOT EXISTS (
             SELECT 1 FROM immunization i
             WHERE i.patient_id = e.patient_id AND i.vaccine_code = s.vaccine_code AND i.dose_number = s.dose_number
               AND i.status = 'completed' AND i.occurrence <= $3::timestamptz))
     ORDER BY e.patient_id, e.period_start DESC, e.id DESC`,
    [program.id, staff ? actor.org : null, asOf.toISOString()],
  );
  const admitted = await Promise.all(enrollments.map(async (enrollment) => {
    const checks = await Promise.all([
      maySee(context, ENROLLMENT, enrollment),
      maySee(context, IMMUNIZATION, enrollment),
      context.consent.mayReachPatient(String(enrollment.patient_id)),
    ]);
    return checks.every(Boolean);
  }));
  const visible = enrollments.filter((_, i) => admitted[i]);
  if (visible.length === 0) return EMPTY_PAGE;

  const birthDates = await fetchBirthDates(context.internal, visible.map((e) => String(e.patient_id)));
  const children = visible
    .filter((e) => birthDates.has(String(e.patient_id)))
    .map((e) => ({ patient_id: e.patient_id, enrollment_id: e.id, birth_date: birthDates.get(String(e.patient_id)) }));
  if (children.length === 0) return EMPTY_PAGE;

  const rows = await context.db.query<Row>(
    `WITH child AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS c(patient_id uuid, enrollment_id uuid, birth_date date)
     ), dose AS (
       SELECT c.patient_id, c.enrollment_id, s.id AS schedule_id, s.seq, s.vaccine_code, s.vaccine_display, s.dose_number,
         c.birth_date + s.recommended_age_days AS due_date,
         c.birth_date + s.recommended_age_days + s.overdue_after_days AS overdue_date
       FROM child c JOIN immunization_schedule s ON s.program_id = $2
       WHERE c.birth_date + s.recommended_age_days <= $4::date
         AND NOT EXISTS (
           SELECT 1 FROM immunization i
           WHERE i.patient_id = c.patient_id AND i.vaccine_code = s.vaccine_code AND i.dose_number = s.dose_number
             AND i.status = 'completed' AND i.occurrence <= $3::timestamptz)
     ), entry AS (
       SELECT d.*, CASE WHEN d.overdue_date <= $4::date THEN 'OVERDUE' ELSE 'DUE' END AS due_status FROM dose d
     )
     SELECT entry.*, last_dose.id AS last_dose_id FROM entry
     LEFT JOIN LATERAL (
       SELECT i.id FROM immunization i
       WHERE i.patient_id = entry.patient_id AND i.vaccine_code = entry.vaccine_code AND i.status = 'completed' AND i.occurrence <= $3::timestamptz
       ORDER BY i.occurrence DESC, i.id DESC LIMIT 1
     ) last_dose ON true
     WHERE ($5::text IS NULL OR entry.due_status = $5)
       AND ($6::date IS NULL OR (entry.due_date, entry.patient_id, entry.seq) > ($6::date, $7::uuid, $8::integer))
     ORDER BY entry.due_date, entry.patient_id, entry.seq
     LIMIT $9`,
    [JSON.stringify(children), program.id, asOf.toISOString(), asOfDate, args.status ?? null,
      after?.dueDate ?? null, after?.patientId ?? null, after?.seq ?? null, first + 1],
  );

  const enrollmentById = new Map(visible.map((e) => [String(e.id), e]));
  const page = rows.slice(0, first).map((row) => {
    const enrollment = enrollmentById.get(String(row.enrollment_id))!;
    const entry: Row = {
      ...row,
      id: `${row.enrollment_id}:${row.schedule_id}`,
      due_date: String(row.due_date).slice(0, 10),
      overdue_date: String(row.overdue_date).slice(0, 10),
      enrollment,
      organization_id: enrollment.organization_id,
      sensitivity_labels: enrollment.sensitivity_labels ?? [],
    };
    // The list itself discloses the entry (its cursor names the child and the date), whatever fields are selected.
    context.consent.disclose(String(entry.patient_id), IMMUNIZATION.category, entry.id, false);
    return entry;
  });
  const edges = page.map((node) => ({ cursor: encodeDueCursor({ dueDate: node.due_date, patientId: String(node.patient_id), seq: Number(node.seq) }), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null } };
}

/** A programme's schedule, in order, batched over the programmes of a request. */
export function scheduleOf(context: SubgraphContext, programId: string): Promise<Row[]> {
  return context
    .loader<string, Row[]>('immunizationSchedule', async (ids) => {
      const rows = await context.db.query<Row>('SELECT * FROM immunization_schedule WHERE program_id = ANY($1::text[]) ORDER BY program_id, seq', [[...ids]]);
      return ids.map((id) => rows.filter((row) => row.program_id === id));
    })
    .load(programId);
}
