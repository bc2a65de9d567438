/**
 * Home measurements and the programme rules that turn them into follow-up
 * tasks. A rule belongs to a programme and fires for patients actively
 * enrolled in it; the task goes to the role it names at the organisation
 * responsible for the patient in that programme, once: while a task from the
 * same rule is open, further high readings do not create another.
 */
import { parseScopes, scopesAllow } from '../../../lib/trust/scopes.js';
import { isUuid, maySee, normalisePageArgs, type Page } from '../../../lib/records/connection.js';
import { decodeKeyset, fillPage, isIsoDate, isIsoInstant } from '../../../lib/trust/keyset.js';
import { badInput, ErrorCode, forbidden, productError } from '../../../lib/runtime/errors.js';
import type { Queryable } from '../../../lib/runtime/db.js';
import type { Row } from '../../../lib/records/records.js';
import { HOME_MEASUREMENT_CODES, type HomeMeasurementKind } from '../../../lib/records/terminology.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { FOLLOW_UP_TASK, HOME_MEASUREMENT } from './access.js';

export interface FollowUpRule {
  code: string;
  programCode: string;
  kind: HomeMeasurementKind;
  /** How many most recent readings of the kind must all be high. */
  consecutive: number;
  isHigh(reading: Row): boolean;
  description: string;
  assignedRole: 'nurse' | 'clinician';
  dueInDays: number;
}

export const FOLLOW_UP_RULES: FollowUpRule[] = [
  {
    code: 'HTN-BP-3', programCode: 'HTN', kind: 'blood-pressure', consecutive: 3,
    isHigh: (m) => m.systolic > 140 || m.diastolic > 90,
    description: 'Three consecutive home blood pressure readings above 140/90 mmHg: review treatment', assignedRole: 'nurse', dueInDays: 3,
  },
  {
    code: 'DM-FPG', programCode: 'DM', kind: 'glucose', consecutive: 1,
    isHigh: (m) => m.fasting === true && m.value > 7.0,
    description: 'Fasting glucose above 7.0 mmol/L at home: review glycaemic control', assignedRole: 'nurse', dueInDays: 7,
  },
];

export interface HomeMeasurementInput {
  patientId: string;
  kind: 'BLOOD_PRESSURE' | 'GLUCOSE' | 'WEIGHT';
  systolic?: number | null;
  diastolic?: number | null;
  value?: number | null;
  fasting?: boolean | null;
  effectiveDateTime?: Date | null;
}

const KIND: Record<HomeMeasurementInput['kind'], HomeMeasurementKind> = { BLOOD_PRESSURE: 'blood-pressure', GLUCOSE: 'glucose', WEIGHT: 'weight' };
const DAY = 86_400_000;

function validate(input: HomeMeasurementInput): { kind: HomeMeasurementKind; effective: Date } {
  if (!isUuid(input.patientId)) throw badInput('patientId must be a patient id (UUID)');
  const kind = KIND[input.kind];
  const inRange = (value: number | null | undefined, low: number, high: number) => typeof value === 'number' && Number.isFinite(value) && value >= low && value <= high;
  if (kind === 'blood-pressure' && !(inRange(input.systolic, 50, 300) && inRange(input.diastolic, 20, 200) && input.systolic! > input.diastolic!)) {
    throw badInput('Blood pressure needs systolic (50-300) above diastolic (20-200), in mm[Hg]');
  }
  if (kind === 'glucose' && !inRange(input.value, 0.5, 50)) throw badInput('Glucose needs a value between 0.5 and 50 mmol/L');
  if (kind === 'weight' && !inRange(input.value, 0.5, 400)) throw badInput('Weight needs a value between 0.5 and 400 kg');
  const effective = input.effectiveDateTime ?? new Date();
  if (effective.getTime() > Date.now() + 5 * 60_000) throw badInput('effectiveDateTime is in the future');
  if (effective.getTime() < Date.now() - 365 * DAY) throw badInput('effectiveDateTime is more than a year ago');
  return { kind, effective };
}

/** Active enrolments of the patient with their programme code. */
const enrolmentsOf = (db: Queryable, patientId: string) =>
  db.query<{ organization_id: string; program_id: string; code: string }>(
    `SELECT e.organization_id, e.program_id, p.code FROM program_enrollment e JOIN program p ON p.id = e.program_id
     WHERE e.patient_id = $1 AND e.status = 'active' ORDER BY e.period_start DESC`, [patientId]);

export async function submitHomeMeasurement(context: SubgraphContext, input: HomeMeasurementInput) {
  const { actor } = context;
  if (!(actor.role === 'patient' || actor.role === 'app')) throw forbidden('Home measurements are submitted by the patient or an app acting for them');
  if (actor.patient !== input.patientId) throw forbidden('This token is bound to another patient');
  if (!scopesAllow(parseScopes(actor.scope), 'home-measurements', 'write')) throw forbidden('The token has no write scope for home measurements (Observation, vital-signs)');
  const { kind, effective } = validate(input);
  const code = HOME_MEASUREMENT_CODES[kind];

  return context.db.transaction(async (tx) => {
    const enrolments = await enrolmentsOf(tx, input.patientId);
    if (enrolments.length === 0) throw badInput('The patient is not enrolled in a programme that receives home measurements');
    const responsible = enrolments.find((e) => e.code === 'HTN' || e.code === 'DM') ?? enrolments[0]!;
    const [measurement] = await tx.query<Row>(
      `INSERT INTO home_measurement (id, patient_id, organization_id, kind, code, display, systolic, diastolic, value, unit, effective, source, fasting)
       VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
      [input.patientId, responsible.organization_id, kind, code.loinc, code.display, input.systolic ?? null, input.diastolic ?? null,
        input.value ?? null, code.unit, effective.toISOString(), actor.role === 'app' ? 'app' : 'patient', input.fasting ?? null],
    );
    const created: Row[] = [];
    for (const rule of FOLLOW_UP_RULES) {
      const enrolment = enrolments.find((e) => e.code === rule.programCode);
      if (rule.kind !== kind || !enrolment) continue;
      const recent = await tx.query<Row>(
        'SELECT * FROM home_measurement WHERE patient_id = $1 AND kind = $2 ORDER BY effective DESC, id DESC LIMIT $3',
        [input.patientId, kind, rule.consecutive],
      );
      if (recent.length < rule.consecutive || !recent.every((reading) => rule.isHigh(reading))) continue;
      // The partial unique index keeps one open task per rule and patient, even under concurrent submissions.
      const [task] = await tx.query<Row>(
        `INSERT INTO follow_up_task (id, patient_id, organization_id, program_id, description, due_date, status, assigned_role, authored_on, rule_code, triggering_measurement_ids)
         VALUES (gen_random_uuid(), $1, $2, $3, $4, (now() + make_interval(days => $5))::date, 'requested', $6, date_trunc('milliseconds', now()), $7, $8::uuid[])
         ON CONFLICT (patient_id, rule_code) WHERE status = 'requested' AND rule_code IS NOT NULL AND based_on_encounter_id IS NULL DO NOTHING RETURNING *`,
        [input.patientId, enrolment.organization_id, enrolment.program_id, rule.description, rule.dueInDays, rule.assignedRole, rule.code, recent.map((r) => r.id)],
      );
      if (task) created.push(task);
    }
    return { measurement, followUpTasksCreated: created };
  });
}

/**
 * The open tasks of the caller's role at their organisation, earliest due
 * first, as a Relay connection keyed by (due_date, authored_on, id). Each is
 * checked by the policy; pages are filled past the tasks it leaves out.
 */
export async function openFollowUpTasks(context: SubgraphContext, args: { first?: number | null; after?: string | null }): Promise<Page<Row>> {
  const { actor } = context;
  if (!(actor.role === 'nurse' || actor.role === 'clinician') || !actor.org) throw forbidden('Open follow-up tasks are listed for clinical staff');
  const { first } = normalisePageArgs({ first: args.first });
  const after = args.after ? decodeKeyset(args.after, [isIsoDate, isIsoInstant, isUuid]) : null;
  return fillPage<Row>({
    first,
    after,
    key: (row) => [String(row.due_date), new Date(row.authored_on).toISOString(), String(row.id)],
    fetch: (position, limit) => context.db.query<Row>(
      `SELECT * FROM follow_up_task WHERE organization_id = $1 AND assigned_role = $2 AND status = 'requested'
         AND ($3::date IS NULL OR (due_date, authored_on, id) > ($3::date, $4::timestamptz, $5::uuid))
       ORDER BY due_date, authored_on, id LIMIT $6`,
      [actor.org, actor.role, position?.[0] ?? null, position?.[1] ?? null, position?.[2] ?? null, limit]),
    keep: (rows) => Promise.all(rows.map((row) => maySee(context, FOLLOW_UP_TASK, row))),
  });
}

export async function completeFollowUpTask(context: SubgraphContext, id: string): Promise<Row> {
  const { actor } = context;
  if (!isUuid(id)) throw productError(ErrorCode.notFound, 'No such follow-up task');
  if (!scopesAllow(parseScopes(actor.scope), 'follow-ups', 'write')) throw forbidden('The token has no write scope for Task');
  return context.db.transaction(async (tx) => {
    const [task] = await tx.query<Row>('SELECT * FROM follow_up_task WHERE id = $1 FOR UPDATE', [id]);
    if (!task || !(await maySee(context, FOLLOW_UP_TASK, task))) throw productError(ErrorCode.notFound, 'No such follow-up task');
    if (!(actor.role === 'nurse' || actor.role === 'clinician') || actor.org !== task.organization_id) {
      throw forbidden('Only staff of the responsible organisation close its follow-up tasks');
    }
    if (task.status !== 'requested') throw productError(ErrorCode.conflict, `The task is already ${task.status}`);
    const [updated] = await tx.query<Row>("UPDATE follow_up_task SET status = 'completed' WHERE id = $1 RETURNING *", [id]);
    return updated!;
  });
}

export function triggeringMeasurements(context: SubgraphContext, task: Row): Promise<Row[]> | Row[] {
  const ids: string[] = task.triggering_measurement_ids ?? [];
  if (ids.length === 0) return [];
  return context
    .loader<string, Row | null>('homeMeasurementById', async (keys) => {
      const rows = await context.db.query<Row>('SELECT * FROM home_measurement WHERE id = ANY($1::uuid[])', [[...keys]]);
      const visible = await Promise.all(rows.map((row) => maySee(context, HOME_MEASUREMENT, row)));
      return keys.map((key) => rows.find((row, i) => row.id === key && visible[i]) ?? null);
    })
    .loadMany(ids)
    .then((rows) => rows.filter((row): row is Row => Boolean(row) && !(row instanceof Error)));
}
