/**
 * Property test of consent through the gateway: random actors, random
 * directives and generated records, queried in several shapes (root queries
 * with nested lists, aliases and fragments, entity lookups that the gateway
 * resolves through `_entities`). What comes back must be exactly what the
 * policy function allows: nothing more (no leak) and nothing less (no
 * over-blocking). Actors include staff tokens bound to a patient (a claim
 * binds every role and never widens it), and a fifth shape tries to revoke a
 * directive, judged against the README's revocation rules written out here.
 *
 * PROPERTY_CASES sets the number of cases (default 1000).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Actor } from '../lib/trust/actor.js';
import { decide, mayReachPatient, type ConsentDirective, type PatientFacts, type RecordFacts } from '../lib/consent/policy.js';
import type { Category } from '../lib/trust/scopes.js';
import { DEFAULT_SEED, generatePatient, type PatientBundle } from '../lib/synthetic/generator.js';
import { ORGANIZATIONS, PROGRAMS } from '../lib/synthetic/registry.js';
import { startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 200;
const CASES = Number(process.env.PROPERTY_CASES ?? 1000);
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
/**
 * Cases concentrate on patients whose records make the policy work: sensitive
 * labels, imaging reports, records from several organisations.
 */
const indicesWhere = (predicate: (b: PatientBundle) => boolean) => bundles.map((b, i) => ({ b, i })).filter(({ b }) => predicate(b)).map(({ i }) => i);
const LABELLED = indicesWhere((b) => b.observations.some((o) => o.sensitivityLabels.length) || b.encounters.some((e) => e.sensitivityLabels.length));
const REPORTED_IMAGING = indicesWhere((b) => b.imagingStudies.some((st) => st.report));
const INTERESTING = [...LABELLED, ...LABELLED, ...REPORTED_IMAGING.slice(0, LABELLED.length)];
/** Organisations that produced something for the patient: where own-organisation access and permits matter. */
const producers = (b: PatientBundle) => [...new Set([...b.encounters, ...b.observations, ...b.imagingStudies, ...b.immunizations].map((r) => r.organizationId))];
const ORG_IDS = ORGANIZATIONS.map((o) => o.id);
const CATEGORY_ENUMS: Category[] = ['demographics', 'identifiers', 'encounters', 'diagnoses', 'labs', 'imaging', 'imaging-reports', 'immunizations', 'programs', 'home-measurements'];
const LABELS = ['HIV', 'PSY', 'V'];
const SCOPES = ['patient/*.rs', 'patient/Observation.rs', 'patient/Observation.rs?category=vital-signs', 'patient/Patient.rs patient/ImagingStudy.rs', 'patient/Immunization.read patient/Patient.read', 'patient/Encounter.rs patient/Condition.rs patient/Patient.rs', 'patient/Patient.rs patient/DiagnosticReport.rs?category=LAB'];

type Recorder = 'patient' | 'staff-here' | 'staff-elsewhere';
type DirectiveCase = Omit<ConsentDirective, 'id' | 'patientId'> & { recorder: Recorder };

interface Case {
  patientIndex: number;
  otherIndex: number;
  actor: Actor;
  directives: DirectiveCase[];
  shape: 'lists' | 'aliases' | 'entities' | 'timeline' | 'revoke';
}

const actorArbitrary: fc.Arbitrary<(patientId: string, otherId: string) => Actor> = fc.record({
  role: fc.constantFrom('clinician', 'nurse', 'patient', 'app', 'public_health', 'admin'),
  org: fc.constantFrom(...ORG_IDS),
  sub: fc.constantFrom('dr-a', 'dr-b', 'nurse-c'),
  breakGlass: fc.boolean(),
  boundToOther: fc.boolean(),
  scope: fc.constantFrom(...SCOPES),
  clientId: fc.constantFrom('app-one', 'app-two'),
  /** Staff tokens with a patient claim (patient/ scopes): none, this patient, or another. */
  staffClaim: fc.constantFrom('none', 'none', 'none', 'this', 'other'),
  writes: fc.boolean(),
}).map((a) => (patientId: string, otherId: string): Actor => {
  const staff = a.role === 'clinician' || a.role === 'nurse';
  const bound = a.role === 'patient' || a.role === 'app';
  const claimed = (staff || a.role === 'public_health') && a.staffClaim !== 'none';
  const staffScope = claimed ? (a.writes ? 'patient/*.cruds' : 'patient/*.rs') : a.writes ? 'user/*.cruds' : 'user/*.rs';
  return {
    sub: a.sub,
    role: a.role as Actor['role'],
    org: a.role === 'clinician' || a.role === 'nurse' || a.role === 'public_health' ? a.org : null,
    scope: a.role === 'app' ? (a.writes ? `${a.scope} patient/Consent.cruds` : a.scope) : a.role === 'patient' ? (a.writes ? 'patient/*.cruds' : 'patient/*.rs') : a.role === 'admin' ? 'schema:read' : staffScope,
    patient: bound ? (a.boundToOther ? otherId : patientId) : claimed ? (a.staffClaim === 'other' ? otherId : patientId) : null,
    purposeOfUse: staff && a.breakGlass ? 'ETREAT' : 'TREAT',
    breakGlassReason: staff && a.breakGlass ? 'property test emergency' : null,
    clientId: a.role === 'app' ? a.clientId : null,
  };
});

const DAY = 86_400_000;
const directiveArbitrary = fc.record({
  decision: fc.constantFrom('permit', 'permit', 'deny') as fc.Arbitrary<'permit' | 'deny'>,
  actorType: fc.constantFrom('organization', 'organization', 'practitioner', 'app', 'alliance') as fc.Arbitrary<ConsentDirective['actorType']>,
  org: fc.constantFrom(...ORG_IDS),
  sub: fc.constantFrom('dr-a', 'dr-b', 'nurse-c'),
  clientId: fc.constantFrom('app-one', 'app-two'),
  categories: fc.oneof(fc.constant([] as Category[]), fc.subarray(CATEGORY_ENUMS, { minLength: 1, maxLength: 5 })),
  labels: fc.subarray(LABELS),
  purposes: fc.constantFrom([], ['TREAT'], ['ETREAT']),
  period: fc.constantFrom('open', 'expired', 'future', 'current', 'revoked'),
  recorder: fc.constantFrom('patient', 'patient', 'staff-here', 'staff-elsewhere') as fc.Arbitrary<Recorder>,
}).map((d): DirectiveCase => {
  const now = Date.now();
  const iso = (offsetDays: number) => new Date(now + offsetDays * DAY).toISOString();
  return {
    decision: d.decision,
    actorType: d.actorType,
    actorId: d.actorType === 'organization' ? d.org : d.actorType === 'practitioner' ? d.sub : d.actorType === 'app' ? d.clientId : null,
    categories: d.categories,
    labels: d.labels,
    purposes: [...d.purposes] as ConsentDirective['purposes'],
    periodStart: d.period === 'future' ? iso(5) : d.period === 'expired' || d.period === 'current' ? iso(-30) : null,
    periodEnd: d.period === 'expired' ? iso(-5) : d.period === 'current' ? iso(30) : null,
    revokedAt: d.period === 'revoked' ? iso(-1) : null,
    recorder: d.recorder,
  };
});

const caseArbitrary: fc.Arbitrary<Case> = fc.record({
  patientIndex: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...INTERESTING) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: PATIENTS - 1 }) }),
  otherOffset: fc.integer({ min: 1, max: PATIENTS - 1 }),
  producerPick: fc.nat(),
  actorAtProducer: fc.boolean(),
  actor: actorArbitrary,
  directives: fc.array(fc.record({ directive: directiveArbitrary, aboutActor: fc.boolean() }), { maxLength: 4 }),
  shape: fc.constantFrom('lists', 'lists', 'aliases', 'entities', 'timeline', 'revoke') as fc.Arbitrary<Case['shape']>,
  /** The directive a `revoke` case tries to revoke: often recorded where the actor works, and in force. */
  revokeTarget: fc.record({ directive: directiveArbitrary, here: fc.boolean(), inForce: fc.boolean() }),
}).map((c) => {
  const bundle = bundles[c.patientIndex]!;
  const otherIndex = (c.patientIndex + c.otherOffset) % PATIENTS;
  let actor = c.actor(bundle.patient.id, bundles[otherIndex]!.patient.id);
  // Staff often work at an organisation that produced some of the records, or next to one.
  const orgs = producers(bundle);
  if (actor.org && c.actorAtProducer && orgs.length) actor = { ...actor, org: orgs[c.producerPick % orgs.length]! };
  // Directives are often about this very actor, so permits and denies bite.
  const directives = c.directives.map(({ directive, aboutActor }) => {
    if (!aboutActor) return directive;
    if (actor.role === 'app') return { ...directive, actorType: 'app' as const, actorId: actor.clientId };
    if (actor.org) return { ...directive, actorType: 'organization' as const, actorId: actor.org };
    return directive;
  });
  if (c.shape === 'revoke') {
    const { directive, here, inForce } = c.revokeTarget;
    directives.unshift({ ...directive, ...(here ? { recorder: 'staff-here' as const } : {}), ...(inForce ? { revokedAt: null } : {}) });
  }
  return { patientIndex: c.patientIndex, otherIndex, actor, directives, shape: c.shape };
});

function factsFor(bundle: PatientBundle, directives: ConsentDirective[]): PatientFacts {
  return {
    patientId: bundle.patient.id,
    registeredOrganizationIds: bundle.patient.identifiers.filter((i) => i.type === 'MR').map((i) => i.assignerOrganizationId!),
    programmeOrganizationIds: [...new Set(bundle.enrollments.filter((e) => e.status === 'active').map((e) => PROGRAMS.find((p) => p.id === e.programId)!.organizationId))],
    directives,
  };
}

/** The policy's verdict on one record, as the oracle. */
const allowed = (actor: Actor, facts: PatientFacts, category: Category, organizationId: string | null, labels: string[] = [], resourceType?: string) =>
  decide(actor, { patientId: facts.patientId, category, organizationId, sensitivityLabels: labels, resourceType } as RecordFacts, facts, new Date()).allow;

/**
 * Whether the name shows: the patient's record where the policy opens it, or (README, "Registering opens
 * nothing") the registration of the actor's own organisation, which is its own record. The generated patients'
 * registrations carry the patient's name.
 */
const nameOpen = (actor: Actor, facts: PatientFacts) => allowed(actor, facts, 'demographics', null)
  || (Boolean(actor.org) && (actor.role === 'clinician' || actor.role === 'nurse') && facts.registeredOrganizationIds.includes(actor.org!) && allowed(actor, facts, 'demographics', actor.org));

const newestIds = <T extends { id: string }>(records: T[], time: (r: T) => Date, limit = 100) =>
  [...records].sort((a, b) => time(b).getTime() - time(a).getTime() || (b.id < a.id ? -1 : 1)).slice(0, limit).map((r) => r.id);

/**
 * Every generated record of a patient as a timeline entry: its kind, time,
 * category, producing organisation (and the organisation a referral is
 * addressed to) and labels, for the policy to judge.
 */
function timelineEntries(bundle: PatientBundle) {
  const entry = (kind: string, id: string, time: Date, category: Category, organizations: string[], labels: string[] = [], resourceType?: string) =>
    ({ kind, id, time, category, organizations, labels, resourceType });
  return [
    ...bundle.encounters.map((r) => entry('ENCOUNTER', r.id, r.periodStart, 'encounters', [r.organizationId], r.sensitivityLabels)),
    ...bundle.conditions.map((r) => entry('DIAGNOSIS', r.id, r.recordedDate, 'diagnoses', [r.organizationId], r.sensitivityLabels)),
    ...bundle.allergies.map((r) => entry('ALLERGY', r.id, r.recordedDate, 'allergies', [r.organizationId], r.sensitivityLabels)),
    ...bundle.procedures.map((r) => entry('PROCEDURE', r.id, r.performedAt, 'procedures', [r.organizationId], r.sensitivityLabels)),
    ...bundle.medicationRequests.map((r) => entry('MEDICATION_REQUEST', r.id, r.authoredOn, 'medications', [r.organizationId], r.sensitivityLabels)),
    ...bundle.medicationAdministrations.map((r) => entry('MEDICATION_ADMINISTRATION', r.id, r.effectiveDateTime, 'medications', [r.organizationId], r.sensitivityLabels)),
    ...bundle.medicationStatements.map((r) => entry('MEDICATION_STATEMENT', r.id, r.effectiveStart, 'medications', [r.organizationId], r.sensitivityLabels)),
    ...bundle.clinicalObservations.map((r) => entry('CLINICAL_OBSERVATION', r.id, r.effective, 'observations', [r.organizationId], r.sensitivityLabels)),
    ...bundle.referrals.map((r) => entry('REFERRAL', r.id, r.authoredOn, 'referrals', [r.requesterOrganizationId, r.performerOrganizationId])),
    ...bundle.observations.map((r) => entry('LAB_RESULT', r.id, r.effective, 'labs', [r.organizationId], r.sensitivityLabels, 'Observation')),
    ...bundle.diagnosticReports.map((r) => entry('DIAGNOSTIC_REPORT', r.id, r.effective, 'labs', [r.organizationId], r.sensitivityLabels, 'DiagnosticReport')),
    ...bundle.imagingStudies.map((r) => entry('IMAGING_STUDY', r.id, r.started, 'imaging', [r.organizationId], r.sensitivityLabels)),
    ...bundle.immunizations.map((r) => entry('IMMUNIZATION', r.id, r.occurrence, 'immunizations', [r.organizationId])),
    ...bundle.enrollments.map((r) => entry('PROGRAM_ENROLLMENT', r.id, new Date(`${r.periodStart}T00:00:00Z`), 'programs', [r.organizationId])),
    ...bundle.followUpTasks.map((r) => entry('FOLLOW_UP_TASK', r.id, r.createdAt, 'follow-ups', [r.organizationId])),
    ...bundle.carePlans.map((r) => entry('CARE_PLAN', r.id, r.periodStart, 'care-plans', [r.organizationId], r.sensitivityLabels)),
    ...bundle.careTeams.map((r) => entry('CARE_TEAM', r.id, r.periodStart, 'care-plans', [r.organizationId], r.sensitivityLabels)),
    ...bundle.homeMeasurements.map((r) => entry('HOME_MEASUREMENT', r.id, r.effective, 'home-measurements', [r.organizationId])),
    ...bundle.clinicalNotes.map((r) => entry('CLINICAL_NOTE', r.id, r.date, 'notes', [r.organizationId], r.sensitivityLabels)),
  ];
}

/**
 * The README's revocation rules, written out independently of the code: the
 * patient, or an app acting for them (under their approval) with a Consent
 * write scope, revokes any of theirs; staff of an organisation that registered the patient revoke only
 * what their own organisation recorded, and never a deny naming them, their
 * organisation or the whole alliance; administrators and public-health staff
 * never; a revoked directive stays revoked.
 */
function mayRevoke(actor: Actor, bundle: PatientBundle, directive: DirectiveCase, recordedAt: string | null, facts: PatientFacts): boolean {
  if (directive.revokedAt) return false;
  if (actor.patient && actor.patient !== bundle.patient.id) return false;
  const writes = /(^|\s)(patient|user)\/(\*|Consent)\.c?r?u/.test(actor.scope) || /(^|\s)(patient|user)\/(\*|Consent)\.(write|\*)/.test(actor.scope);
  if (!writes) return false;
  if (actor.role === 'patient') return actor.patient === bundle.patient.id;
  // An app acts for the patient only while the patient approves it (consent rule 3: it reaches them only then).
  if (actor.role === 'app') return actor.patient === bundle.patient.id && mayReachPatient(actor, facts, new Date());
  if (actor.role !== 'clinician' && actor.role !== 'nurse') return false;
  const registered = bundle.patient.identifiers.some((i) => i.type === 'MR' && i.assignerOrganizationId === actor.org);
  if (!registered || !mayReachPatient(actor, facts, new Date())) return false;
  if (directive.recorder === 'patient' || recordedAt !== actor.org) return false;
  const namesActor = directive.actorType === 'alliance' || (directive.actorType === 'organization' && directive.actorId === actor.org)
    || (directive.actorType === 'practitioner' && directive.actorId === actor.sub);
  return !(directive.decision === 'deny' && namesActor);
}

const TIMELINE_QUERY = `query($id: ID!) { patient(id: $id) { id timeline(first: 100) { edges { kind node {
  ... on Encounter { id } ... on Condition { id } ... on AllergyIntolerance { id } ... on ClinicalObservation { id } ... on Procedure { id } ... on Referral { id } ... on Observation { id } ... on DiagnosticReport { id }
  ... on ImagingStudy { id } ... on Immunization { id } ... on ProgramEnrollment { id } ... on FollowUpTask { id } ... on CarePlan { id } ... on CareTeam { id } ... on HomeMeasurement { id }
  ... on MedicationRequest { id } ... on MedicationAdministration { id } ... on MedicationStatement { id } ... on ClinicalNote { id } } } } } }`;

const LIST_SELECTION = `
  id name { text }
  encounters(first: 100) { edges { node { id diagnoses { id } } } }
  observations(first: 100) { edges { node { id } } }
  imagingStudies(first: 100) { edges { node { id report { impression } } } }
  immunizations(first: 100) { edges { node { id } } }
  homeMeasurements(first: 100) { edges { node { id } } }`;

describe('consent property: responses match the policy function exactly', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack('pglite', { patients: PATIENTS });
  });
  afterAll(async () => stack?.close());

  it(`holds for ${CASES} random actors, directives and query shapes`, async () => {
    await fc.assert(
      fc.asyncProperty(caseArbitrary, async (c) => {
        const bundle = bundles[c.patientIndex]!;
        const db = stack.databases.identity;
        await db.query('DELETE FROM consent_directive'); // each case starts from no directives at all
        const stored: ConsentDirective[] = [];
        const recordedAt: (string | null)[] = [];
        for (const { recorder, ...d } of c.directives) {
          const at = recorder === 'patient' ? null : recorder === 'staff-here' ? (c.actor.org ?? 'org-provincial') : ORG_IDS.find((org) => org !== c.actor.org)!;
          const [row] = await db.query<{ id: string }>(
            `INSERT INTO consent_directive (patient_id, decision, actor_type, actor_id, categories, labels, purposes, period_start, period_end, revoked_at,
               recorded_by, recorded_by_role, recorded_at_organization_id, attestation)
             VALUES ($1, $2, $3, $4, $5::text[], $6::text[], $7::text[], $8, $9, $10, 'property-test', $11, $12, $13) RETURNING id`,
            [bundle.patient.id, d.decision, d.actorType, d.actorId, d.categories, d.labels, d.purposes, d.periodStart, d.periodEnd, d.revokedAt,
              at ? 'clinician' : 'patient', at, at ? 'signed-form' : null],
          );
          stored.push({ ...d, id: row!.id, patientId: bundle.patient.id });
          recordedAt.push(at);
        }
        const facts = factsFor(bundle, stored);
        const token = await stack.token({
          sub: c.actor.sub, role: c.actor.role, org: c.actor.org ?? undefined, scope: c.actor.scope, patient: c.actor.patient ?? undefined,
          purpose_of_use: c.actor.purposeOfUse, break_glass_reason: c.actor.breakGlassReason ?? undefined, client_id: c.actor.clientId ?? undefined,
        });
        const boundElsewhere = c.actor.patient !== null && c.actor.patient !== bundle.patient.id;
        const patientVisible = mayReachPatient(c.actor, facts, new Date());
        const context = JSON.stringify({ actor: c.actor, directives: c.directives, patient: c.patientIndex, shape: c.shape });
        // Independently of the policy: a token bound to another patient reaches nothing of this one.
        if (boundElsewhere) expect(patientVisible, context).toBe(false);

        if (c.shape === 'revoke') {
          if (stored.length === 0) return;
          const target = stored[0]!;
          const response = await stack.graphql(token, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: target.id });
          const [row] = await db.query<{ revoked_at: Date | null }>('SELECT revoked_at FROM consent_directive WHERE id = $1', [target.id]);
          const expected = mayRevoke(c.actor, bundle, c.directives[0]!, recordedAt[0]!, facts);
          expect(response.data?.revokeConsent?.id ?? null, `${context} ${JSON.stringify(response.errors)}`).toBe(expected ? target.id : null);
          expect(row!.revoked_at !== null, context).toBe(expected || c.directives[0]!.revokedAt !== null);
          if (!expected) expect(['FORBIDDEN', 'NOT_FOUND', 'CONFLICT'], context).toContain(response.errors?.[0]?.extensions?.code);
          return;
        }

        if (c.shape === 'entities') {
          // Entity lookups: encounter → patient goes through identity's _entities.
          const encounter = bundle.encounters[0]!;
          const response = await stack.graphql(token, `query($e: ID!) { encounter(id: $e) { id reason { code } patient { id name { text } } } }`, { e: encounter.id });
          const encounterVisible = allowed(c.actor, facts, 'encounters', encounter.organizationId, encounter.sensitivityLabels);
          expect(response.data?.encounter?.id ?? null, context).toBe(encounterVisible ? encounter.id : null);
          if (encounterVisible) {
            const nameVisible = patientVisible && nameOpen(c.actor, facts);
            expect(response.data.encounter.patient?.name?.[0]?.text ?? null, context).toBe(nameVisible ? `${bundle.patient.family} ${bundle.patient.given.join(' ')}` : null);
          }
          return;
        }

        if (c.shape === 'timeline') {
          // The merged timeline holds exactly the entries the policy allows, from every owner, newest first.
          const response = await stack.graphql(token, TIMELINE_QUERY, { id: bundle.patient.id });
          if (!patientVisible) {
            expect(response.data?.patient ?? null, context).toBeNull();
            return;
          }
          expect(response.errors, context).toBeUndefined();
          const visible = timelineEntries(bundle).filter((e) => e.organizations.some((org) => allowed(c.actor, facts, e.category, org, e.labels, e.resourceType)));
          const expected = newestIds(visible, (e) => e.time).map((id) => `${visible.find((e) => e.id === id)!.kind}:${id}`);
          expect(response.data.patient.timeline.edges.map((e: any) => `${e.kind}:${e.node.id}`), context).toEqual(expected);
          return;
        }

        const query = c.shape === 'lists'
          ? `query($id: ID!) { patient(id: $id) { ${LIST_SELECTION} } }`
          : `query($id: ID!, $other: ID!) { mine: patient(id: $id) { ...Record } theirs: patient(id: $other) { id } } fragment Record on Patient { ${LIST_SELECTION} }`;
        const response = await stack.graphql(token, query, { id: bundle.patient.id, other: bundles[c.otherIndex]!.patient.id });
        const patient = c.shape === 'lists' ? response.data?.patient : response.data?.mine;
        if (!patientVisible) {
          expect(patient ?? null, context).toBeNull();
          return;
        }
        expect(patient?.id, context).toBe(bundle.patient.id);
        const a = c.actor;
        const nameVisible = nameOpen(a, facts);
        expect(patient.name?.[0]?.text ?? null, context).toBe(nameVisible ? `${bundle.patient.family} ${bundle.patient.given.join(' ')}` : null);
        const ids = (connection: any) => connection.edges.map((e: any) => e.node.id);
        expect(ids(patient.encounters), context).toEqual(newestIds(bundle.encounters.filter((e) => allowed(a, facts, 'encounters', e.organizationId, e.sensitivityLabels)), (e) => e.periodStart));
        for (const edge of patient.encounters.edges) {
          const diagnosesOpen = allowed(a, facts, 'diagnoses', bundle.encounters.find((e) => e.id === edge.node.id)!.organizationId, []);
          const expected = bundle.conditions.filter((cond) => cond.encounterId === edge.node.id && allowed(a, facts, 'diagnoses', cond.organizationId, cond.sensitivityLabels)).map((cond) => cond.id);
          // The field is closed when the encounter's own diagnoses category is closed; otherwise it lists the visible conditions.
          if (edge.node.diagnoses === null) expect(diagnosesOpen && expected.length > 0, context).toBe(false);
          else expect(edge.node.diagnoses.map((d: any) => d.id).sort(), context).toEqual(expected.sort());
        }
        expect(ids(patient.observations), context).toEqual(newestIds(bundle.observations.filter((o) => allowed(a, facts, 'labs', o.organizationId, o.sensitivityLabels, 'Observation')), (o) => o.effective));
        expect(ids(patient.imagingStudies), context).toEqual(newestIds(bundle.imagingStudies.filter((s) => allowed(a, facts, 'imaging', s.organizationId, s.sensitivityLabels)), (s) => s.started));
        for (const edge of patient.imagingStudies.edges) {
          const study = bundle.imagingStudies.find((s) => s.id === edge.node.id)!;
          const reportVisible = study.report !== null && allowed(a, facts, 'imaging-reports', study.organizationId, study.sensitivityLabels);
          expect(edge.node.report?.impression ?? null, context).toBe(reportVisible ? study.report!.impression : null);
        }
        expect(ids(patient.immunizations), context).toEqual(newestIds(bundle.immunizations.filter((i) => allowed(a, facts, 'immunizations', i.organizationId)), (i) => i.occurrence));
        expect(ids(patient.homeMeasurements), context).toEqual(newestIds(bundle.homeMeasurements.filter((m) => allowed(a, facts, 'home-measurements', m.organizationId)), (m) => m.effective));
        if (c.shape === 'aliases') {
          const other = bundles[c.otherIndex]!;
          const otherFacts = factsFor(other, []);
          const otherVisible = mayReachPatient(a, otherFacts, new Date());
          if (c.actor.patient === null) expect(response.data.theirs?.id ?? null, context).toBe(otherVisible ? other.patient.id : null);
          else expect(response.data?.theirs ?? null, context).toBeNull();
        }
      }),
      { numRuns: CASES },
    );
    // Heavy on a busy two-core machine: allow well past its usual run time (no timed assertion).
  }, 120_000 + CASES * 300);
});
