/** Public-health resolvers: programmes, enrolments, immunisations (CVX), follow-up tasks, home measurements. */
import type { GraphQLResolverMap } from '@apollo/subgraph';
import { loadById, loadReference, loadPatientPage, type PageArgs, patientList } from '../../../lib/records/connection.js';
import { coding, entityRef, recordFields, patientOf, type Row } from '../../../lib/records/records.js';
import { SYSTEM } from '../../../lib/records/terminology.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import { CARE_PLAN, CARE_TEAM, ENROLLMENT, FOLLOW_UP_TASK, HOME_MEASUREMENT, IMMUNIZATION } from './access.js';
import { completeFollowUpTask, openFollowUpTasks, submitHomeMeasurement, triggeringMeasurements, type HomeMeasurementInput } from './follow-up.js';
import { immunizationsDue, scheduleOf, type ImmunizationsDueArgs } from './immunizations-due.js';
import { requireRegistryAdmin } from '../../../lib/records/registry.js';
import { deactivateProgram, programChanges, upsertProgram, type ProgramAuthor, type ProgramInput } from './programs.js';
import { cohortPrograms, programCohort, type ProgramCohortArgs } from './cohort.js';

/** The administrator making a programme change (refused for anyone else). */
function programAuthor(context: SubgraphContext): ProgramAuthor {
  requireRegistryAdmin(context.actor);
  return { sub: context.actor.sub, role: context.actor.role, requestId: context.requestId };
}

const programLoader = (context: SubgraphContext, id: string | null) =>
  id
    ? context
        .loader<string, Row | null>('program', async (ids) => {
          const rows = await context.db.query<Row>('SELECT * FROM program WHERE id = ANY($1::text[])', [[...ids]]);
          return ids.map((key) => rows.find((row) => row.id === key) ?? null);
        })
        .load(id)
    : null;

const MEASUREMENT_KIND = { BLOOD_PRESSURE: 'blood-pressure', GLUCOSE: 'glucose', WEIGHT: 'weight' } as const;
const KIND_NAME = Object.fromEntries(Object.entries(MEASUREMENT_KIND).map(([name, value]) => [value, name]));

export const resolvers: GraphQLResolverMap<SubgraphContext> = {
  Query: {
    programs: (_: unknown, args: { includeInactive?: boolean | null }, context: SubgraphContext) =>
      context.db.query(`SELECT * FROM program ${args.includeInactive ? '' : 'WHERE active '}ORDER BY id`),
    programChanges: (_: unknown, args: { programId?: string | null; first?: number | null }, context: SubgraphContext) => {
      programAuthor(context);
      return programChanges(context.db, args.programId, args.first);
    },
    program: (_: unknown, { id }: { id: string }, context: SubgraphContext) => programLoader(context, id),
    immunization: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'immunization', id, IMMUNIZATION),
    programEnrollment: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'program_enrollment', id, ENROLLMENT),
    followUpTask: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'follow_up_task', id, FOLLOW_UP_TASK),
    carePlan: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'care_plan', id, CARE_PLAN),
    careTeam: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'care_team', id, CARE_TEAM),
    homeMeasurement: (_: unknown, { id }: { id: string }, context: SubgraphContext) => loadById(context, 'home_measurement', id, HOME_MEASUREMENT),
    openFollowUpTasks: (_: unknown, args: { first?: number | null; after?: string | null }, context: SubgraphContext) => openFollowUpTasks(context, args),
    immunizationsDue: (_: unknown, args: ImmunizationsDueArgs, context: SubgraphContext) => immunizationsDue(context, args),
    programCohort: (_: unknown, args: ProgramCohortArgs, context: SubgraphContext) => programCohort(context, args),
    cohortPrograms: (_: unknown, __: unknown, context: SubgraphContext) => cohortPrograms(context),
  },
  Mutation: {
    submitHomeMeasurement: (_: unknown, { input }: { input: HomeMeasurementInput }, context: SubgraphContext) => submitHomeMeasurement(context, input),
    completeFollowUpTask: (_: unknown, { id }: { id: string }, context: SubgraphContext) => completeFollowUpTask(context, id),
    upsertProgram: (_: unknown, { input }: { input: ProgramInput }, context: SubgraphContext) => upsertProgram(context.db, context.internal, programAuthor(context), input),
    deactivateProgram: (_: unknown, { id }: { id: string }, context: SubgraphContext) => deactivateProgram(context.db, context.internal, programAuthor(context), id),
  },
  ProgramChange: {
    sequence: (row: Row) => String(row.seq),
    occurredAt: (row: Row) => row.occurred_at,
    requestId: (row: Row) => row.request_id,
    actorSub: (row: Row) => row.actor_sub,
    actorRole: (row: Row) => row.actor_role,
    programId: (row: Row) => row.program_id,
    action: (row: Row) => String(row.action).toUpperCase(),
    before: (row: Row) => (row.before ? JSON.stringify(row.before) : null),
    after: (row: Row) => JSON.stringify(row.after),
  },
  Patient: {
    programEnrollments: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'programEnrollments', patientList('ProgramEnrollment'), patient.id, args),
    immunizations: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'immunizations', patientList('Immunization'), patient.id, args),
    followUpTasks: (patient: { id: string }, args: PageArgs & { status?: string }, context: SubgraphContext) =>
      loadPatientPage(context, 'followUpTasks', {
        ...patientList('FollowUpTask'),
        ...(args.status ? { where: 'r.status = $7', params: [args.status.toLowerCase()] } : {}),
      }, patient.id, args),
    homeMeasurements: (patient: { id: string }, args: PageArgs & { kind?: keyof typeof MEASUREMENT_KIND }, context: SubgraphContext) =>
      loadPatientPage(context, 'homeMeasurements', {
        ...patientList('HomeMeasurement'),
        ...(args.kind ? { where: 'r.kind = $7', params: [MEASUREMENT_KIND[args.kind]] } : {}),
      }, patient.id, args),
    carePlans: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'carePlans', patientList('CarePlan'), patient.id, args),
    careTeams: (patient: { id: string }, args: PageArgs, context: SubgraphContext) =>
      loadPatientPage(context, 'careTeams', patientList('CareTeam'), patient.id, args),
  },
  CarePlan: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'care_plan', reference.id, CARE_PLAN),
    ...recordFields,
    // Concepts, activities and references are kept as sent (jsonb in the shape of the schema's types).
    status: (row: Row) => row.status,
    intent: (row: Row) => row.intent,
    category: (row: Row) => row.categories,
    period: (row: Row) => ({ start: row.period_start, end: row.period_end }),
    activity: (row: Row) => row.activities,
    // The diagnoses are encounters' records: entity references its own consent rule resolves.
    addresses: (row: Row) => ((row.addresses_condition_ids as string[] | null) ?? []).map((id) => ({ id })),
    // The encounter is the encounters subgraph's record: an entity reference its own consent rule resolves.
    encounter: (row: Row) => entityRef(row.encounter_id),
    careTeam: async (row: Row, _: unknown, context: SubgraphContext) => {
      if (!row.care_team_id) return [];
      const team = await loadReference(context, 'care_team', row.care_team_id, CARE_TEAM);
      return team ? [team] : [];
    },
  },
  CareTeam: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'care_team', reference.id, CARE_TEAM),
    ...recordFields,
    status: (row: Row) => row.status,
    period: (row: Row) => ({ start: row.period_start, end: row.period_end }),
    participant: (row: Row) => row.participants,
    reasonCode: (row: Row) => row.reason_codes,
    managingOrganization: (row: Row) => (row.managed_by_producer ? entityRef(row.organization_id) : null),
    encounter: (row: Row) => entityRef(row.encounter_id),
  },
  Program: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => programLoader(context, reference.id),
    organization: recordFields.organization,
    active: (row: Row) => row.active !== false,
    immunizationSchedule: (row: Row, _: unknown, context: SubgraphContext) => scheduleOf(context, row.id),
  },
  ImmunizationScheduleDose: {
    vaccineCode: (row: Row) => coding(SYSTEM.cvx, row.vaccine_code, row.vaccine_display),
    doseNumber: (row: Row) => row.dose_number,
    recommendedAgeDays: (row: Row) => row.recommended_age_days,
    overdueAfterDays: (row: Row) => row.overdue_after_days,
  },
  ImmunizationDue: {
    patient: patientOf,
    enrollment: (row: Row) => row.enrollment,
    organization: recordFields.organization,
    vaccineCode: (row: Row) => coding(SYSTEM.cvx, row.vaccine_code, row.vaccine_display),
    doseNumber: (row: Row) => row.dose_number,
    dueDate: (row: Row) => row.due_date,
    overdueDate: (row: Row) => row.overdue_date,
    status: (row: Row) => row.due_status,
    lastDose: (row: Row, _: unknown, context: SubgraphContext) => (row.last_dose_id ? loadReference(context, 'immunization', row.last_dose_id, IMMUNIZATION) : null),
  },
  ProgramEnrollment: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'program_enrollment', reference.id, ENROLLMENT),
    patient: patientOf,
    lastUpdated: recordFields.lastUpdated,
    sensitivityLabels: recordFields.sensitivityLabels,
    organization: recordFields.organization,
    program: (row: Row, _: unknown, context: SubgraphContext) => programLoader(context, row.program_id),
    period: (row: Row) => ({ start: row.period_start, end: row.period_end }),
  },
  Immunization: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'immunization', reference.id, IMMUNIZATION),
    patient: patientOf,
    lastUpdated: recordFields.lastUpdated,
    sensitivityLabels: recordFields.sensitivityLabels,
    organization: recordFields.organization,
    vaccineCode: (row: Row) => coding(SYSTEM.cvx, row.vaccine_code, row.vaccine_display),
    doseNumber: (row: Row) => row.dose_number,
    lotNumber: (row: Row) => row.lot_number,
    occurrenceDateTime: (row: Row) => row.occurrence,
    program: (row: Row, _: unknown, context: SubgraphContext) => programLoader(context, row.program_id),
    // The encounter is the encounters subgraph's record (its consent rule: access.ts); the location a logical reference as sent.
    encounter: (row: Row) => entityRef(row.encounter_id),
    location: (row: Row) => row.location ?? null,
  },
  FollowUpTask: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'follow_up_task', reference.id, FOLLOW_UP_TASK),
    patient: patientOf,
    lastUpdated: recordFields.lastUpdated,
    sensitivityLabels: recordFields.sensitivityLabels,
    organization: recordFields.organization,
    dueDate: (row: Row) => row.due_date,
    status: (row: Row) => String(row.status).toUpperCase(),
    assignedRole: (row: Row) => row.assigned_role,
    program: (row: Row, _: unknown, context: SubgraphContext) => programLoader(context, row.program_id),
    authoredOn: (row: Row) => row.authored_on,
    ruleCode: (row: Row) => row.rule_code,
    triggeringMeasurements: (row: Row, _: unknown, context: SubgraphContext) => triggeringMeasurements(context, row),
    basedOnEncounter: (row: Row) => entityRef(row.based_on_encounter_id),
  },
  HomeMeasurement: {
    __resolveReference: (reference: { id: string }, context: SubgraphContext) => loadReference(context, 'home_measurement', reference.id, HOME_MEASUREMENT),
    patient: patientOf,
    lastUpdated: recordFields.lastUpdated,
    sensitivityLabels: recordFields.sensitivityLabels,
    organization: recordFields.organization,
    kind: (row: Row) => KIND_NAME[row.kind],
    code: (row: Row) => coding(SYSTEM.loinc, row.code, row.display),
    effectiveDateTime: (row: Row) => row.effective,
  },
};
