/**
 * The consent policy (`decide`) against the decision table of
 * ../consent/policy.ts and docs/architecture.md ("Consent"), and the SQL
 * record filter (`recordFilter`) against the policy itself.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Actor, PurposeOfUse, Role } from '../trust/actor.js';
import { recordFilter } from '../consent/filter.js';
import {
  decide,
  authorisedByPatient,
  isActive,
  mayReachPatient,
  PUBLIC_HEALTH_CATEGORIES,
  roleMaySee,
  type ConsentDirective,
  type Decision,
  type PatientFacts,
  type RecordFacts,
} from '../consent/policy.js';
import { CATEGORIES, type Category } from '../trust/scopes.js';

const NOW = new Date('2026-06-30T12:00:00Z');
const PAST = '2026-01-01T00:00:00Z';
const FUTURE = '2027-01-01T00:00:00Z';
const AT_NOW = NOW.toISOString();

const PATIENT = 'patient-1';
const OTHER_PATIENT = 'patient-2';
const OWN_ORG = 'org-a';
const OTHER_ORG = 'org-b';
const THIRD_ORG = 'org-c';
const CLIENT = 'app-client-1';

// ---------------------------------------------------------------- helpers

const STAFF_LIKE: Role[] = ['clinician', 'nurse', 'public_health', 'admin'];

/** An actor with sensible defaults per role (staff: `user/*.rs`, patient/app: `patient/*.rs`). */
function makeActor(role: Role, overrides: Partial<Actor> = {}): Actor {
  const staffLike = STAFF_LIKE.includes(role);
  return {
    sub: `${role}-sub-1`,
    role,
    org: staffLike && role !== 'admin' ? OWN_ORG : null,
    scope: staffLike ? 'user/*.rs' : 'patient/*.rs',
    patient: staffLike ? null : PATIENT,
    purposeOfUse: 'TREAT',
    breakGlassReason: null,
    clientId: role === 'app' ? CLIENT : null,
    ...overrides,
  };
}

const clinician = (overrides: Partial<Actor> = {}) => makeActor('clinician', overrides);
const breakGlass = (overrides: Partial<Actor> = {}) =>
  clinician({ purposeOfUse: 'ETREAT', breakGlassReason: 'Unconscious patient in the emergency room', ...overrides });

let directiveSeq = 0;
function directive(
  decision: ConsentDirective['decision'],
  actorType: ConsentDirective['actorType'],
  actorId: string | null,
  overrides: Partial<ConsentDirective> = {},
): ConsentDirective {
  directiveSeq += 1;
  return {
    id: `directive-${directiveSeq}`,
    patientId: PATIENT,
    decision,
    actorType,
    actorId,
    categories: [],
    labels: [],
    purposes: [],
    periodStart: null,
    periodEnd: null,
    revokedAt: null,
    ...overrides,
  };
}
const permit = (actorType: ConsentDirective['actorType'], actorId: string | null, overrides: Partial<ConsentDirective> = {}) =>
  directive('permit', actorType, actorId, overrides);
const deny = (actorType: ConsentDirective['actorType'], actorId: string | null, overrides: Partial<ConsentDirective> = {}) =>
  directive('deny', actorType, actorId, overrides);

function rec(category: Category, organizationId: string | null, sensitivityLabels: string[] = [], patientId = PATIENT): RecordFacts {
  return { patientId, category, organizationId, sensitivityLabels };
}

function facts(directives: ConsentDirective[] = [], extra: Partial<PatientFacts> = {}): PatientFacts {
  return { patientId: PATIENT, registeredOrganizationIds: [OWN_ORG], programmeOrganizationIds: [], directives, ...extra };
}

const run = (actor: Actor, record: RecordFacts, patientFacts: PatientFacts = facts()) => decide(actor, record, patientFacts, NOW);

function expectAllowed(decision: Decision, rule?: string, breakGlassFlag = false) {
  expect(decision.allow, JSON.stringify(decision)).toBe(true);
  if (decision.allow) {
    expect(decision.breakGlass).toBe(breakGlassFlag);
    if (rule) expect(decision.rule).toBe(rule);
  }
}

function expectDenied(decision: Decision, code: 'FORBIDDEN' | 'CONSENT_DENIED') {
  expect(decision.allow, JSON.stringify(decision)).toBe(false);
  if (!decision.allow) {
    expect(decision.code).toBe(code);
    expect(decision.reason).toEqual(expect.any(String));
  }
}

const NON_PUBLIC_HEALTH = CATEGORIES.filter((c) => !PUBLIC_HEALTH_CATEGORIES.includes(c));

// ---------------------------------------------------------------- rule 1

describe('rule 1: admin', () => {
  it.each(CATEGORIES)('admin never reads %s, even from its own organisation and under a permit (FORBIDDEN)', (category) => {
    const admin = makeActor('admin', { org: OWN_ORG });
    const f = facts([permit('alliance', null), permit('organization', OWN_ORG), permit('practitioner', admin.sub)]);
    expectDenied(run(admin, rec(category, OWN_ORG), f), 'FORBIDDEN');
  });

  it('admin cannot read the Patient record itself (FORBIDDEN)', () => {
    expectDenied(run(makeActor('admin', { org: OWN_ORG }), rec('demographics', null)), 'FORBIDDEN');
  });

  it('admin cannot break the glass (FORBIDDEN)', () => {
    const admin = makeActor('admin', { org: OWN_ORG, purposeOfUse: 'ETREAT', breakGlassReason: 'Emergency access needed' });
    expectDenied(run(admin, rec('labs', OTHER_ORG)), 'FORBIDDEN');
  });
});

// ---------------------------------------------------------------- rule 2

describe('rule 2: patient', () => {
  it.each(CATEGORIES)('patient reads their own %s from any organisation', (category) => {
    expectAllowed(run(makeActor('patient'), rec(category, OTHER_ORG, ['HIV', 'V'])), 'own-record');
  });

  it('patient reads their own Patient record', () => {
    expectAllowed(run(makeActor('patient'), rec('demographics', null)), 'own-record');
  });

  it("patient cannot read another patient's record (FORBIDDEN)", () => {
    const f = facts([], { patientId: OTHER_PATIENT });
    expectDenied(run(makeActor('patient'), rec('labs', OWN_ORG, [], OTHER_PATIENT), f), 'FORBIDDEN');
  });

  it('patient is held to their scopes (patient/Immunization.rs cannot read labs: FORBIDDEN)', () => {
    const patient = makeActor('patient', { scope: 'patient/Immunization.rs' });
    expectAllowed(run(patient, rec('immunizations', OWN_ORG)), 'own-record');
    expectDenied(run(patient, rec('labs', OWN_ORG)), 'FORBIDDEN');
  });
});

// ---------------------------------------------------------------- rule 3

describe('rule 3: app', () => {
  /** The patient's approval of the app (a permit naming its client_id), as the approval screen records it. */
  const approval = (categories: Category[] = [], overrides: Partial<ConsentDirective> = {}) => permit('app', CLIENT, { categories, ...overrides });
  const approved = (...directives: ConsentDirective[]) => facts([approval(), ...directives]);

  it("app reads its token's patient in a category its scopes and the patient's approval cover", () => {
    expectAllowed(run(makeActor('app', { scope: 'patient/Observation.rs' }), rec('labs', OTHER_ORG), facts([approval(['labs'])])), 'app-approved');
  });

  it('without an approval of the patient, an app reads nothing, whatever its scopes (CONSENT_DENIED)', () => {
    for (const category of CATEGORIES) expectDenied(run(makeActor('app', { scope: 'patient/*.rs' }), rec(category, OWN_ORG)), 'CONSENT_DENIED');
  });

  it('an approval of another app, for another patient, revoked, expired or not yet in force does not count', () => {
    const app = makeActor('app');
    for (const other of [
      permit('app', 'some-other-app'), approval([], { patientId: OTHER_PATIENT }), approval([], { revokedAt: PAST }),
      approval([], { periodEnd: PAST }), approval([], { periodStart: FUTURE }), permit('organization', OWN_ORG), permit('alliance', null),
    ]) expectDenied(run(app, rec('labs', OWN_ORG), facts([other])), 'CONSENT_DENIED');
  });

  it('only what both the scopes and the approval cover: the approval narrows the scopes, the scopes narrow the approval', () => {
    const wide = makeActor('app', { scope: 'patient/*.rs' });
    const f = facts([approval(['labs'])]);
    expectAllowed(run(wide, rec('labs', OWN_ORG), f), 'app-approved');
    expectDenied(run(wide, rec('encounters', OWN_ORG), f), 'CONSENT_DENIED');
    const narrow = makeActor('app', { scope: 'patient/Immunization.rs' });
    const all = facts([approval()]);
    expectDenied(run(narrow, rec('labs', OWN_ORG), all), 'FORBIDDEN');
    expectAllowed(run(narrow, rec('immunizations', OWN_ORG), all), 'app-approved');
  });

  it('app bound to another patient is refused (FORBIDDEN), approval notwithstanding', () => {
    const app = makeActor('app', { patient: OTHER_PATIENT });
    expectDenied(run(app, rec('labs', OWN_ORG), approved()), 'FORBIDDEN');
  });

  it('app cannot read a category outside its scopes (FORBIDDEN)', () => {
    const app = makeActor('app', { scope: 'patient/Immunization.rs' });
    expectDenied(run(app, rec('labs', OWN_ORG), approved()), 'FORBIDDEN');
    expectDenied(run(app, rec('imaging', OWN_ORG), approved()), 'FORBIDDEN');
    expectAllowed(run(app, rec('immunizations', OWN_ORG), approved()), 'app-approved');
  });

  it("patient's deny naming the app's client_id overrides the approval → CONSENT_DENIED", () => {
    expectDenied(run(makeActor('app'), rec('labs', OWN_ORG), approved(deny('app', CLIENT))), 'CONSENT_DENIED');
  });

  it('a deny naming another client_id does not affect the app', () => {
    expectAllowed(run(makeActor('app'), rec('labs', OWN_ORG), approved(deny('app', 'some-other-app'))), 'app-approved');
  });

  it("a deny of the app for one category leaves the app's other approved categories open", () => {
    const f = approved(deny('app', CLIENT, { categories: ['labs'] }));
    expectDenied(run(makeActor('app'), rec('labs', OWN_ORG), f), 'CONSENT_DENIED');
    expectAllowed(run(makeActor('app'), rec('immunizations', OWN_ORG), f), 'app-approved');
  });

  it('a revoked deny of the app no longer applies', () => {
    expectAllowed(run(makeActor('app'), rec('labs', OWN_ORG), approved(deny('app', CLIENT, { revokedAt: PAST }))), 'app-approved');
  });

  it('sensitive records need an approval naming their label, as any permit does', () => {
    const app = makeActor('app');
    expectDenied(run(app, rec('labs', OWN_ORG, ['HIV']), approved()), 'CONSENT_DENIED');
    expectAllowed(run(app, rec('labs', OWN_ORG, ['HIV']), facts([approval(['labs'], { labels: ['HIV'] })])), 'app-approved');
  });

  it('scopes name the resource type where a category spans several: Observation scopes do not reach lab DiagnosticReports', () => {
    const observations = makeActor('app', { scope: 'patient/Observation.rs' });
    expectAllowed(run(observations, { ...rec('labs', OWN_ORG), resourceType: 'Observation' }, approved()), 'app-approved');
    expectDenied(run(observations, { ...rec('labs', OWN_ORG), resourceType: 'DiagnosticReport' }, approved()), 'FORBIDDEN');
    const reports = makeActor('app', { scope: 'patient/DiagnosticReport.rs?category=LAB' });
    expectAllowed(run(reports, { ...rec('labs', OWN_ORG), resourceType: 'DiagnosticReport' }, approved()), 'app-approved');
    expectDenied(run(reports, { ...rec('labs', OWN_ORG), resourceType: 'Observation' }, approved()), 'FORBIDDEN');
    // Wildcard scopes reach every resource type of their categories.
    expectAllowed(run(makeActor('app', { scope: 'patient/*.rs' }), { ...rec('labs', OWN_ORG), resourceType: 'DiagnosticReport' }, approved()), 'app-approved');
  });

  it('granular scope patient/Observation.rs?category=laboratory covers labs but not home-measurements', () => {
    const app = makeActor('app', { scope: 'patient/Observation.rs?category=laboratory' });
    expectAllowed(run(app, rec('labs', OWN_ORG), approved()), 'app-approved');
    expectDenied(run(app, rec('home-measurements', OWN_ORG), approved()), 'FORBIDDEN');
  });

  it('an app reaches its patient only while it holds an approval of theirs', () => {
    const app = makeActor('app', { scope: 'patient/Observation.rs' });
    expect(mayReachPatient(app, facts(), NOW)).toBe(false);
    expect(mayReachPatient(app, facts([approval(['labs'])]), NOW)).toBe(true);
    expect(mayReachPatient(app, facts([approval(['labs'], { revokedAt: PAST })]), NOW)).toBe(false);
    expect(mayReachPatient(app, facts([permit('app', 'some-other-app')]), NOW)).toBe(false);
    expect(mayReachPatient(makeActor('app', { patient: OTHER_PATIENT }), facts([approval()]), NOW)).toBe(false);
  });
});

// ---------------------------------------------------------------- rule 4

describe('reaching the patient (finding them, opening their lists)', () => {
  const elsewhere = () => clinician({ org: OTHER_ORG });
  it('is open to staff of a registering organisation, and to the patient', () => {
    expect(mayReachPatient(clinician(), facts(), NOW)).toBe(true);
    expect(mayReachPatient(makeActor('patient'), facts(), NOW)).toBe(true);
  });
  it('is closed to staff elsewhere without a permit', () => {
    expect(mayReachPatient(elsewhere(), facts(), NOW)).toBe(false);
  });
  it('is open to staff elsewhere holding a permit for any category, demographics or not', () => {
    expect(mayReachPatient(elsewhere(), facts([permit('organization', OTHER_ORG, { categories: ['labs'] })]), NOW)).toBe(true);
    expect(mayReachPatient(elsewhere(), facts([permit('alliance', null, { categories: ['immunizations'] })]), NOW)).toBe(true);
  });
  it('is closed when the permit is revoked, expired, for another purpose or for someone else', () => {
    expect(mayReachPatient(elsewhere(), facts([permit('organization', OTHER_ORG, { categories: ['labs'], revokedAt: PAST })]), NOW)).toBe(false);
    expect(mayReachPatient(elsewhere(), facts([permit('organization', OTHER_ORG, { periodEnd: PAST })]), NOW)).toBe(false);
    expect(mayReachPatient(elsewhere(), facts([permit('organization', OTHER_ORG, { purposes: ['HPAYMT'] })]), NOW)).toBe(false);
    expect(mayReachPatient(elsewhere(), facts([permit('organization', 'org-somewhere-else', { categories: ['labs'] })]), NOW)).toBe(false);
  });
  it('is never open to administrators, nor to public-health staff outside a programme', () => {
    expect(mayReachPatient(makeActor('admin'), facts([permit('alliance', null)]), NOW)).toBe(false);
    expect(mayReachPatient(makeActor('public_health', { org: OTHER_ORG }), facts([permit('alliance', null)]), NOW)).toBe(false);
  });
});

describe('a patient claim binds every role to that patient', () => {
  const bound = (role: Role, patient: string, overrides: Partial<Actor> = {}) => makeActor(role, { patient, scope: 'patient/*.rs', ...overrides });
  it.each(['clinician', 'nurse', 'public_health', 'patient', 'app'] as Role[])('%s bound to another patient reads none of this one, own organisation, permits and break-glass notwithstanding', (role) => {
    const f = facts([permit('alliance', null), permit('organization', OWN_ORG)], { programmeOrganizationIds: [OWN_ORG] });
    for (const category of ['demographics', 'labs', 'immunizations'] as Category[]) {
      expectDenied(run(bound(role, OTHER_PATIENT), rec(category, OWN_ORG), f), 'FORBIDDEN');
      expectDenied(run(bound(role, OTHER_PATIENT), rec(category, null), f), 'FORBIDDEN');
    }
    expect(mayReachPatient(bound(role, OTHER_PATIENT), f, NOW)).toBe(false);
    if (role === 'clinician' || role === 'nurse') {
      expectDenied(run(bound(role, OTHER_PATIENT, { purposeOfUse: 'ETREAT', breakGlassReason: 'Unconscious patient in the emergency room' }), rec('labs', OTHER_ORG), f), 'FORBIDDEN');
    }
  });
  it('never widens what staff may see: a claim for a patient their organisation did not register finds nothing', () => {
    const elsewhere = bound('clinician', PATIENT, { org: OTHER_ORG });
    expect(mayReachPatient(elsewhere, facts(), NOW)).toBe(false);
    expectDenied(run(elsewhere, rec('labs', OWN_ORG)), 'CONSENT_DENIED');
    expectDenied(run(elsewhere, rec('demographics', null)), 'CONSENT_DENIED');
  });
  it('keeps the staff rules for the patient it names: own organisation and permits', () => {
    expect(mayReachPatient(bound('clinician', PATIENT), facts(), NOW)).toBe(true);
    expectAllowed(run(bound('clinician', PATIENT), rec('labs', OWN_ORG)), 'own-organization');
    expectAllowed(run(bound('clinician', PATIENT, { org: OTHER_ORG }), rec('labs', OWN_ORG), facts([permit('organization', OTHER_ORG, { categories: ['labs'] })])), 'permit');
  });
  it('lets staff of a registering organisation reach the patient with narrow scopes, unless refused everything', () => {
    const narrow = bound('clinician', PATIENT, { scope: 'patient/Observation.rs' });
    expect(mayReachPatient(narrow, facts(), NOW)).toBe(true);
    expectDenied(run(narrow, rec('demographics', null)), 'FORBIDDEN');
    expect(mayReachPatient(clinician(), facts([deny('organization', OWN_ORG)]), NOW)).toBe(false);
    expect(mayReachPatient(clinician(), facts([deny('organization', OWN_ORG, { categories: ['labs'] })]), NOW)).toBe(true);
  });
});

describe('rule 4: staff (clinician, nurse)', () => {
  it.each(['clinician', 'nurse'] as const)('%s reads records its own organisation produced', (role) => {
    expectAllowed(run(makeActor(role), rec('labs', OWN_ORG)), 'own-organization');
  });

  it.each(['clinician', 'nurse'] as const)('%s of another organisation without a permit → CONSENT_DENIED', (role) => {
    expectDenied(run(makeActor(role), rec('labs', OTHER_ORG)), 'CONSENT_DENIED');
  });

  it('other-organisation staff read under a permit for their organisation', () => {
    const f = facts([permit('organization', OWN_ORG, { categories: ['labs'] })]);
    expectAllowed(run(clinician(), rec('labs', OTHER_ORG), f), 'permit');
  });

  it('other-organisation staff read under a permit for themselves as practitioner (actorId = token sub)', () => {
    const actor = clinician({ sub: 'dr-house' });
    const f = facts([permit('practitioner', 'dr-house', { categories: ['labs'] })]);
    expectAllowed(run(actor, rec('labs', OTHER_ORG), f), 'permit');
  });

  it('a permit for a different practitioner does not open the record', () => {
    const f = facts([permit('practitioner', 'dr-someone-else')]);
    expectDenied(run(clinician({ sub: 'dr-house' }), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it("other-organisation staff read under a permit for the whole alliance (actorType 'alliance', actorId null)", () => {
    const f = facts([permit('alliance', null, { categories: ['labs'] })]);
    expectAllowed(run(clinician(), rec('labs', OTHER_ORG), f), 'permit');
    expectAllowed(run(makeActor('nurse', { org: THIRD_ORG }), rec('labs', OTHER_ORG), f), 'permit');
  });

  it('a permit for a different organisation does not open the record', () => {
    const f = facts([permit('organization', THIRD_ORG)]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it('a permit for another category does not open the record', () => {
    const f = facts([permit('organization', OWN_ORG, { categories: ['immunizations'] })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it("a permit stored for another patient is ignored", () => {
    const f = facts([permit('organization', OWN_ORG, { patientId: OTHER_PATIENT })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it('an app permit does not open records to staff', () => {
    const f = facts([permit('app', OWN_ORG)]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });
});

// ---------------------------------------------------------------- sensitivity labels

describe('sensitivity labels', () => {
  it('other-organisation staff need a permit naming the label (permit for the category only → CONSENT_DENIED)', () => {
    const f = facts([permit('organization', OWN_ORG, { categories: ['labs'] })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG, ['HIV']), f), 'CONSENT_DENIED');
  });

  it('other-organisation staff read a labelled record under a permit naming the label and covering the category', () => {
    const f = facts([permit('organization', OWN_ORG, { categories: ['labs'], labels: ['HIV'] })]);
    expectAllowed(run(clinician(), rec('labs', OTHER_ORG, ['HIV']), f), 'permit');
  });

  it('a permit naming the label but not covering the category does not name it for this category', () => {
    const f = facts([
      permit('organization', OWN_ORG, { categories: ['labs'] }),
      permit('organization', OWN_ORG, { categories: ['diagnoses'], labels: ['HIV'] }),
    ]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG, ['HIV']), f), 'CONSENT_DENIED');
  });

  it.each([['HIV'], ['PSY'], ['V'], ['HIV', 'PSY', 'V']])('own-organisation staff need no permit for labels %j', (...labels) => {
    expectAllowed(run(clinician(), rec('labs', OWN_ORG, labels)), 'own-organization');
  });

  it('labels named across two permits, each covering the category, are OK (labels checked one by one)', () => {
    const f = facts([
      permit('organization', OWN_ORG, { categories: ['labs'], labels: ['HIV'] }),
      permit('alliance', null, { categories: [], labels: ['PSY'] }),
    ]);
    expectAllowed(run(clinician(), rec('labs', OTHER_ORG, ['HIV', 'PSY']), f), 'permit');
  });

  it('a record with two labels is closed when only one of them is named', () => {
    const f = facts([permit('organization', OWN_ORG, { categories: ['labs'], labels: ['HIV'] })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG, ['HIV', 'PSY']), f), 'CONSENT_DENIED');
  });

  it('a V record from elsewhere opens under a permit naming V', () => {
    const f = facts([permit('practitioner', 'dr-house', { labels: ['V'] })]);
    expectAllowed(run(clinician({ sub: 'dr-house' }), rec('diagnoses', OTHER_ORG, ['V']), f), 'permit');
  });
});

// ---------------------------------------------------------------- Patient record

describe('the Patient record itself (organizationId null) and registrations', () => {
  // Rule 4 (issue #25): registering a patient — by the health card, say — gives an organisation its own
  // registration (the demographics and identifiers it sent, a record it produced), never what others recorded.
  it.each(['demographics', 'identifiers', 'consents'] as const)('staff of a registering organisation do NOT read the alliance\'s %s as their own', (category) => {
    const f = facts([], { registeredOrganizationIds: [OTHER_ORG, OWN_ORG] });
    expectDenied(run(clinician(), rec(category, null), f), 'CONSENT_DENIED');
  });

  it.each(['demographics', 'identifiers'] as const)('staff read their own organisation\'s registration (%s it sent) as own organisation', (category) => {
    const f = facts([], { registeredOrganizationIds: [OTHER_ORG, OWN_ORG] });
    expectAllowed(run(clinician(), rec(category, OWN_ORG), f), 'own-organization');
    expectDenied(run(clinician(), rec(category, OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it('staff of an organisation that has not registered the patient → CONSENT_DENIED', () => {
    const f = facts([], { registeredOrganizationIds: [OTHER_ORG] });
    expectDenied(run(clinician(), rec('demographics', null), f), 'CONSENT_DENIED');
  });

  it('staff read the Patient record under a permit, registered or not', () => {
    for (const registered of [[OTHER_ORG], [OWN_ORG]]) {
      const f = facts([permit('organization', OWN_ORG, { categories: ['demographics'] })], { registeredOrganizationIds: registered });
      expectAllowed(run(clinician(), rec('demographics', null), f), 'permit');
      expectDenied(run(clinician(), rec('identifiers', null), f), 'CONSENT_DENIED');
    }
  });

  it('staff without an organisation never count as registering', () => {
    const f = facts([], { registeredOrganizationIds: [OWN_ORG] });
    expectDenied(run(clinician({ org: null }), rec('demographics', OWN_ORG), f), 'CONSENT_DENIED');
    expect(mayReachPatient(clinician({ org: null }), f, NOW)).toBe(false);
  });

  it('a registration still reaches the patient (find them, open their lists), and only the patient\'s permit authorises', () => {
    const f = facts([], { registeredOrganizationIds: [OWN_ORG] });
    expect(mayReachPatient(clinician(), f, NOW)).toBe(true);
    expect(authorisedByPatient(clinician(), f, NOW)).toBe(false);
    expect(authorisedByPatient(clinician(), facts([permit('organization', OWN_ORG, { categories: ['consents'] })]), NOW)).toBe(true);
    expect(authorisedByPatient(clinician({ sub: 'dr-house' }), facts([permit('practitioner', 'dr-house', { categories: ['labs'] })]), NOW)).toBe(true);
    expect(authorisedByPatient(clinician(), facts([permit('alliance', null, { categories: ['labs'] })]), NOW)).toBe(true);
    // Not a deny, a revoked or expired permit, a permit for someone else, another purpose, nor anyone but staff.
    expect(authorisedByPatient(clinician(), facts([deny('organization', OWN_ORG)]), NOW)).toBe(false);
    expect(authorisedByPatient(clinician(), facts([permit('organization', OWN_ORG, { revokedAt: PAST })]), NOW)).toBe(false);
    expect(authorisedByPatient(clinician(), facts([permit('organization', OWN_ORG, { periodEnd: PAST })]), NOW)).toBe(false);
    expect(authorisedByPatient(clinician(), facts([permit('organization', THIRD_ORG)]), NOW)).toBe(false);
    expect(authorisedByPatient(clinician(), facts([permit('organization', OWN_ORG, { purposes: ['HPAYMT'] })]), NOW)).toBe(false);
    expect(authorisedByPatient(makeActor('patient'), facts([permit('alliance', null)]), NOW)).toBe(false);
    expect(authorisedByPatient(makeActor('public_health'), facts([permit('alliance', null)]), NOW)).toBe(false);
  });
});

// ---------------------------------------------------------------- rule 5

describe('rule 5: break-glass', () => {
  it('ETREAT with a reason opens an other-organisation record without permit, flagged breakGlass: true', () => {
    expectAllowed(run(breakGlass(), rec('labs', OTHER_ORG)), 'break-glass', true);
  });

  it('nurses may break the glass too', () => {
    const nurse = makeActor('nurse', { purposeOfUse: 'ETREAT', breakGlassReason: 'Cardiac arrest on the ward' });
    expectAllowed(run(nurse, rec('labs', OTHER_ORG)), 'break-glass', true);
  });

  it('break-glass opens a deny naming the organisation, even on own-organisation records', () => {
    const f = facts([deny('organization', OWN_ORG)]);
    expectAllowed(run(breakGlass(), rec('labs', OWN_ORG), f), 'break-glass', true);
    expectAllowed(run(breakGlass(), rec('labs', OTHER_ORG), f), 'break-glass', true);
  });

  it('break-glass opens a deny naming the practitioner', () => {
    const f = facts([deny('practitioner', 'dr-house')]);
    expectAllowed(run(breakGlass({ sub: 'dr-house' }), rec('diagnoses', OWN_ORG), f), 'break-glass', true);
  });

  it('break-glass opens an alliance-wide deny', () => {
    const f = facts([permit('organization', OWN_ORG), deny('alliance', null)]);
    expectAllowed(run(breakGlass(), rec('labs', OTHER_ORG), f), 'break-glass', true);
  });

  it('break-glass opens labelled records the permits do not name (HIV, PSY)', () => {
    expectAllowed(run(breakGlass(), rec('diagnoses', OTHER_ORG, ['HIV', 'PSY'])), 'break-glass', true);
  });

  it('break-glass does NOT open a V-labelled record from elsewhere (CONSENT_DENIED)', () => {
    expectDenied(run(breakGlass(), rec('diagnoses', OTHER_ORG, ['V'])), 'CONSENT_DENIED');
    expectDenied(run(breakGlass(), rec('diagnoses', OTHER_ORG, ['HIV', 'V'])), 'CONSENT_DENIED');
  });

  it('break-glass does NOT open a V-labelled own-organisation record under a deny (CONSENT_DENIED)', () => {
    const f = facts([deny('organization', OWN_ORG)]);
    expectDenied(run(breakGlass(), rec('diagnoses', OWN_ORG, ['V']), f), 'CONSENT_DENIED');
  });

  it('when rule 4 already allows (own organisation), breakGlass is false', () => {
    expectAllowed(run(breakGlass(), rec('labs', OWN_ORG)), 'own-organization', false);
    expectAllowed(run(breakGlass(), rec('diagnoses', OWN_ORG, ['V'])), 'own-organization', false);
  });

  it('when rule 4 already allows (permit), breakGlass is false', () => {
    const f = facts([permit('organization', OWN_ORG)]);
    expectAllowed(run(breakGlass(), rec('labs', OTHER_ORG), f), 'permit', false);
  });

  it('ETREAT without a reason is not break-glass (CONSENT_DENIED)', () => {
    expectDenied(run(clinician({ purposeOfUse: 'ETREAT', breakGlassReason: null }), rec('labs', OTHER_ORG)), 'CONSENT_DENIED');
  });

  it('a reason without ETREAT is not break-glass (CONSENT_DENIED)', () => {
    expectDenied(run(clinician({ purposeOfUse: 'TREAT', breakGlassReason: 'Emergency access needed' }), rec('labs', OTHER_ORG)), 'CONSENT_DENIED');
  });

  it('break-glass does not lift the scope ceiling (FORBIDDEN)', () => {
    expectDenied(run(breakGlass({ scope: 'user/Observation.rs' }), rec('imaging', OTHER_ORG)), 'FORBIDDEN');
  });

  it('break-glass is for clinicians and nurses only (public_health stays FORBIDDEN on labs)', () => {
    const ph = makeActor('public_health', { purposeOfUse: 'ETREAT', breakGlassReason: 'Outbreak investigation' });
    expectDenied(run(ph, rec('labs', OWN_ORG), facts([], { programmeOrganizationIds: [OWN_ORG] })), 'FORBIDDEN');
  });
});

// ---------------------------------------------------------------- rule 6

describe('rule 6: public_health', () => {
  const enrolled = () => facts([], { programmeOrganizationIds: [OWN_ORG] });

  it.each(PUBLIC_HEALTH_CATEGORIES)('public_health reads %s of a patient enrolled in its programme', (category) => {
    expectAllowed(run(makeActor('public_health'), rec(category, OTHER_ORG), enrolled()), 'programme-enrolment');
  });

  it('the public-health categories are exactly demographics, immunizations, programs, follow-ups, home-measurements', () => {
    expect([...PUBLIC_HEALTH_CATEGORIES].sort()).toEqual(['demographics', 'follow-ups', 'home-measurements', 'immunizations', 'programs']);
  });

  it.each(PUBLIC_HEALTH_CATEGORIES)('public_health reads %s of a patient not enrolled with its organisation → CONSENT_DENIED', (category) => {
    expectDenied(run(makeActor('public_health'), rec(category, OWN_ORG), facts()), 'CONSENT_DENIED');
    const otherProgramme = facts([], { programmeOrganizationIds: [OTHER_ORG] });
    expectDenied(run(makeActor('public_health'), rec(category, OWN_ORG), otherProgramme), 'CONSENT_DENIED');
  });

  it.each(NON_PUBLIC_HEALTH)('public_health never reads %s, even enrolled and under a permit (FORBIDDEN)', (category) => {
    const f = facts([permit('organization', OWN_ORG), permit('alliance', null)], { programmeOrganizationIds: [OWN_ORG] });
    expectDenied(run(makeActor('public_health'), rec(category, OWN_ORG), f), 'FORBIDDEN');
  });

  it('a labelled record needs a permit naming the label for public_health too (the programme rule alone does not open it)', () => {
    expectDenied(run(makeActor('public_health'), rec('immunizations', OTHER_ORG, ['HIV']), enrolled()), 'CONSENT_DENIED');
    const named = facts([permit('organization', OWN_ORG, { labels: ['HIV'] })], { programmeOrganizationIds: [OWN_ORG] });
    expectAllowed(run(makeActor('public_health'), rec('immunizations', OTHER_ORG, ['HIV']), named), 'programme-enrolment');
    // A permit naming another label, or another organisation, does not.
    const otherLabel = facts([permit('organization', OWN_ORG, { labels: ['PSY'] })], { programmeOrganizationIds: [OWN_ORG] });
    expectDenied(run(makeActor('public_health'), rec('immunizations', OTHER_ORG, ['HIV']), otherLabel), 'CONSENT_DENIED');
    const otherOrg = facts([permit('organization', OTHER_ORG, { labels: ['HIV'] })], { programmeOrganizationIds: [OWN_ORG] });
    expectDenied(run(makeActor('public_health'), rec('immunizations', OTHER_ORG, ['HIV']), otherOrg), 'CONSENT_DENIED');
  });

  it('a deny naming public_health\'s organisation closes what it covers', () => {
    const denied = facts([deny('organization', OWN_ORG, { categories: ['immunizations'] })], { programmeOrganizationIds: [OWN_ORG] });
    expectDenied(run(makeActor('public_health'), rec('immunizations', OTHER_ORG), denied), 'CONSENT_DENIED');
    expectAllowed(run(makeActor('public_health'), rec('programs', OTHER_ORG), denied), 'programme-enrolment');
  });

  it('labs are FORBIDDEN to public_health', () => {
    expectDenied(run(makeActor('public_health'), rec('labs', OWN_ORG), enrolled()), 'FORBIDDEN');
  });

  it('public_health is held to its scopes too (user/Immunization.rs cannot read programs: FORBIDDEN)', () => {
    const ph = makeActor('public_health', { scope: 'user/Immunization.rs' });
    expectAllowed(run(ph, rec('immunizations', OTHER_ORG), enrolled()), 'programme-enrolment');
    expectDenied(run(ph, rec('programs', OTHER_ORG), enrolled()), 'FORBIDDEN');
  });
});

// ---------------------------------------------------------------- edge cases

describe('directive activity (period and revocation)', () => {
  it('an expired permit (periodEnd in the past) is ignored', () => {
    const f = facts([permit('organization', OWN_ORG, { periodStart: '2025-01-01T00:00:00Z', periodEnd: PAST })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it('an expired deny (periodEnd in the past) is ignored', () => {
    const f = facts([deny('organization', OWN_ORG, { periodEnd: PAST })]);
    expectAllowed(run(clinician(), rec('labs', OWN_ORG), f), 'own-organization');
  });

  it('a permit whose periodEnd is exactly now is no longer in force', () => {
    const f = facts([permit('organization', OWN_ORG, { periodEnd: AT_NOW })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it('a permit inside its period applies', () => {
    const f = facts([permit('organization', OWN_ORG, { periodStart: PAST, periodEnd: FUTURE })]);
    expectAllowed(run(clinician(), rec('labs', OTHER_ORG), f), 'permit');
  });

  it('a permit with a future periodStart is ignored', () => {
    const f = facts([permit('organization', OWN_ORG, { periodStart: FUTURE })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it('a deny with a future periodStart is ignored', () => {
    const f = facts([deny('organization', OWN_ORG, { periodStart: FUTURE })]);
    expectAllowed(run(clinician(), rec('labs', OWN_ORG), f), 'own-organization');
  });

  it.each([
    ['in the past', PAST],
    ['exactly now', AT_NOW],
  ])('a permit revoked %s is ignored', (_when, revokedAt) => {
    const f = facts([permit('organization', OWN_ORG, { revokedAt })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it.each([
    ['in the past', PAST],
    ['exactly now', AT_NOW],
  ])('a deny revoked %s is ignored', (_when, revokedAt) => {
    const f = facts([deny('practitioner', 'dr-house', { revokedAt })]);
    expectAllowed(run(clinician({ sub: 'dr-house' }), rec('labs', OWN_ORG), f), 'own-organization');
  });

  it('a revocation scheduled in the future leaves the directive in force', () => {
    const f = facts([permit('organization', OWN_ORG, { revokedAt: FUTURE })]);
    expectAllowed(run(clinician(), rec('labs', OTHER_ORG), f), 'permit');
  });

  it('isActive agrees with the boundaries above', () => {
    expect(isActive(permit('alliance', null), NOW)).toBe(true);
    expect(isActive(permit('alliance', null, { periodEnd: AT_NOW }), NOW)).toBe(false);
    expect(isActive(permit('alliance', null, { periodStart: AT_NOW }), NOW)).toBe(true);
    expect(isActive(permit('alliance', null, { revokedAt: AT_NOW }), NOW)).toBe(false);
    expect(isActive(permit('alliance', null, { revokedAt: FUTURE, periodStart: PAST, periodEnd: FUTURE }), NOW)).toBe(true);
  });
});

describe('conflicts, purposes, categories and scopes', () => {
  it('overlapping permit and deny for the same organisation → deny wins', () => {
    const f = facts([permit('organization', OWN_ORG, { categories: ['labs'] }), deny('organization', OWN_ORG, { categories: ['labs'] })]);
    expectDenied(run(clinician(), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
  });

  it('a deny for the practitioner beats a permit for the organisation', () => {
    const f = facts([permit('organization', OWN_ORG), deny('practitioner', 'dr-house')]);
    expectDenied(run(clinician({ sub: 'dr-house' }), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
    expectAllowed(run(clinician({ sub: 'dr-colleague' }), rec('labs', OTHER_ORG), f), 'permit');
  });

  it('a deny naming the practitioner overrides own organisation', () => {
    const f = facts([deny('practitioner', 'dr-house')]);
    expectDenied(run(clinician({ sub: 'dr-house' }), rec('labs', OWN_ORG), f), 'CONSENT_DENIED');
    expectAllowed(run(clinician({ sub: 'dr-colleague' }), rec('labs', OWN_ORG), f), 'own-organization');
  });

  it('a deny naming the organisation overrides own organisation', () => {
    const f = facts([deny('organization', OWN_ORG)]);
    expectDenied(run(clinician(), rec('labs', OWN_ORG), f), 'CONSENT_DENIED');
    expectDenied(run(makeActor('nurse'), rec('diagnoses', OWN_ORG), f), 'CONSENT_DENIED');
  });

  it('a deny naming the organisation also closes its own registration of the patient', () => {
    const f = facts([deny('organization', OWN_ORG, { categories: ['demographics'] })]);
    expectDenied(run(clinician(), rec('demographics', OWN_ORG), f), 'CONSENT_DENIED');
  });

  it('an alliance-wide deny does NOT remove own-organisation access', () => {
    const f = facts([deny('alliance', null)]);
    expectAllowed(run(clinician(), rec('labs', OWN_ORG, ['HIV']), f), 'own-organization');
    expectAllowed(run(clinician(), rec('demographics', OWN_ORG), f), 'own-organization');
  });

  it('an alliance-wide deny blocks an other-organisation permit', () => {
    const f = facts([permit('organization', OWN_ORG), permit('practitioner', 'dr-house'), deny('alliance', null, { categories: ['labs'] })]);
    expectDenied(run(clinician({ sub: 'dr-house' }), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
    // outside the deny's categories the permits still apply
    expectAllowed(run(clinician({ sub: 'dr-house' }), rec('diagnoses', OTHER_ORG), f), 'permit');
  });

  it("a permit for purposes ['TREAT'] does not apply when the actor's purpose is HPAYMT", () => {
    const f = facts([permit('organization', OWN_ORG, { purposes: ['TREAT'] })]);
    expectDenied(run(clinician({ purposeOfUse: 'HPAYMT' }), rec('labs', OTHER_ORG), f), 'CONSENT_DENIED');
    expectAllowed(run(clinician({ purposeOfUse: 'TREAT' }), rec('labs', OTHER_ORG), f), 'permit');
  });

  it.each<[PurposeOfUse[], PurposeOfUse, boolean]>([
    [[], 'HPAYMT', true],
    [['TREAT', 'HPAYMT'], 'HPAYMT', true],
    [['PUBHLTH'], 'TREAT', false],
  ])('a permit for purposes %j applies to purpose %s: %s', (purposes, purposeOfUse, allowed) => {
    const f = facts([permit('organization', OWN_ORG, { purposes })]);
    expect(run(clinician({ purposeOfUse }), rec('labs', OTHER_ORG), f).allow).toBe(allowed);
  });

  it("a deny for purposes ['HPAYMT'] does not close own-organisation access for TREAT", () => {
    const f = facts([deny('organization', OWN_ORG, { purposes: ['HPAYMT'] })]);
    expectAllowed(run(clinician(), rec('labs', OWN_ORG), f), 'own-organization');
    expectDenied(run(clinician({ purposeOfUse: 'HPAYMT' }), rec('labs', OWN_ORG), f), 'CONSENT_DENIED');
  });

  it.each(CATEGORIES)('categories: [] on a permit covers every category (%s)', (category) => {
    const f = facts([permit('organization', OWN_ORG, { categories: [] })]);
    expectAllowed(run(clinician(), rec(category, OTHER_ORG), f), 'permit');
  });

  it.each(CATEGORIES)('categories: [] on a deny covers every category (%s)', (category) => {
    const f = facts([deny('organization', OWN_ORG, { categories: [] })]);
    expectDenied(run(clinician(), rec(category, OWN_ORG), f), 'CONSENT_DENIED');
  });

  it('a deny for one category leaves other categories of own organisation open', () => {
    const f = facts([deny('organization', OWN_ORG, { categories: ['diagnoses'] })]);
    expectDenied(run(clinician(), rec('diagnoses', OWN_ORG), f), 'CONSENT_DENIED');
    expectAllowed(run(clinician(), rec('labs', OWN_ORG), f), 'own-organization');
  });

  it('scopes are a ceiling for staff: user/Observation.rs cannot read imaging, even own organisation or under a permit', () => {
    const actor = clinician({ scope: 'user/Observation.rs' });
    const f = facts([permit('organization', OWN_ORG)]);
    expectAllowed(run(actor, rec('labs', OWN_ORG), f), 'own-organization');
    expectDenied(run(actor, rec('imaging', OWN_ORG), f), 'FORBIDDEN');
    expectDenied(run(actor, rec('imaging', OTHER_ORG), f), 'FORBIDDEN');
  });

  it('a staff token with no clinical scopes reads nothing (FORBIDDEN)', () => {
    expectDenied(run(clinician({ scope: 'openid fhirUser' }), rec('labs', OWN_ORG)), 'FORBIDDEN');
  });
});

describe('denies naming sensitivity labels', () => {
  it('close only records carrying one of the labels', () => {
    const f = facts([deny('organization', OWN_ORG, { labels: ['HIV'] })]);
    expectDenied(run(clinician(), rec('labs', OWN_ORG, ['HIV']), f), 'CONSENT_DENIED');
    expectAllowed(run(clinician(), rec('labs', OWN_ORG, []), f), 'own-organization');
    expectAllowed(run(clinician(), rec('labs', OWN_ORG, ['PSY']), f), 'own-organization');
  });
});

// ---------------------------------------------------------------- recordFilter

const ORGS = [OWN_ORG, OTHER_ORG, THIRD_ORG];
const PROPERTY_LABELS = ['HIV', 'PSY', 'V'];

/** The SQL predicate of `recordFilterSql`, evaluated in JS. */
function sqlPredicate(filter: { orgs: string[]; pairs: string[]; bg_orgs: string[] }, record: RecordFacts): boolean {
  const org = record.organizationId!;
  return (filter.orgs.includes(org) && record.sensitivityLabels.every((l) => filter.pairs.includes(`${org}|${l}`)))
    || (filter.bg_orgs.includes(org) && !record.sensitivityLabels.includes('V'));
}

describe('recordFilter', () => {
  it('own-organisation staff see unlabelled and labelled records of their organisation only', () => {
    const filter = recordFilter(clinician(), 'labs', facts(), ORGS, NOW);
    expect(filter.id).toBe(PATIENT);
    expect(filter.orgs).toEqual([OWN_ORG]);
    expect(filter.pairs).toContain(`${OWN_ORG}|HIV`);
    expect(filter.pairs).toContain(`${OWN_ORG}|V`);
    expect(filter.pairs.every((p) => p.startsWith(`${OWN_ORG}|`))).toBe(true);
  });

  it('a permit naming one label opens that label only for other organisations', () => {
    const f = facts([permit('organization', OWN_ORG, { labels: ['HIV'] })]);
    const filter = recordFilter(clinician(), 'labs', f, ORGS, NOW);
    expect([...filter.orgs].sort()).toEqual([...ORGS].sort());
    expect(filter.pairs).toContain(`${OTHER_ORG}|HIV`);
    expect(filter.pairs).not.toContain(`${OTHER_ORG}|PSY`);
  });

  it("includes the actor's own organisation even when it is not in the registry list", () => {
    const filter = recordFilter(clinician({ org: 'org-new' }), 'labs', facts(), ORGS, NOW);
    expect(filter.orgs).toEqual(['org-new']);
  });

  it('admin gets an empty filter', () => {
    expect(recordFilter(makeActor('admin', { org: OWN_ORG }), 'labs', facts(), ORGS, NOW)).toEqual({ id: PATIENT, orgs: [], pairs: [], bg_orgs: [] });
  });

  it('break-glass with V named by a permit and another label unnamed: the filter closes the record, as the policy does', () => {
    // Break-glass is not label-by-label: {V} opens through rule 4 (the permit
    // names V), {HIV} through break-glass, but {HIV, V} is closed (rule 4:
    // HIV unnamed; break-glass: carries V). The filter keeps rule 4 and
    // break-glass apart (pairs vs bg_orgs) so it agrees.
    const f = facts([permit('organization', OWN_ORG, { labels: ['V'] })]);
    const actor = breakGlass();
    const record = rec('diagnoses', OTHER_ORG, ['HIV', 'V']);
    expectDenied(run(actor, record, f), 'CONSENT_DENIED');
    expectAllowed(run(actor, rec('diagnoses', OTHER_ORG, ['V']), f), 'permit');
    expectAllowed(run(actor, rec('diagnoses', OTHER_ORG, ['HIV']), f), 'break-glass', true);
    const filter = recordFilter(actor, 'diagnoses', f, ORGS, NOW);
    expect(sqlPredicate(filter, record)).toBe(false);
    expect(sqlPredicate(filter, rec('diagnoses', OTHER_ORG, ['V']))).toBe(true);
    expect(sqlPredicate(filter, rec('diagnoses', OTHER_ORG, ['HIV']))).toBe(true);
  });

  // ------------------------------------------------ property test

  const SUBS = ['dr-a', 'dr-b', 'dr-c'];
  const CLIENTS = ['app-1', 'app-2'];
  const DATES = [null, '2025-01-01T00:00:00Z', PAST, AT_NOW, FUTURE];
  const SCOPES = ['user/*.rs', 'patient/*.rs', 'user/Observation.rs', 'user/Condition.rs user/Observation.rs?category=laboratory', 'patient/Immunization.rs', 'openid'];

  const arbActor: fc.Arbitrary<Actor> = fc
    .record({
      role: fc.constantFrom<Role>('clinician', 'nurse', 'patient', 'app', 'public_health', 'admin'),
      sub: fc.constantFrom(...SUBS),
      org: fc.constantFrom(...ORGS, 'org-ph'),
      scope: fc.constantFrom(...SCOPES),
      patient: fc.constantFrom(PATIENT, PATIENT, PATIENT, OTHER_PATIENT),
      clientId: fc.constantFrom(...CLIENTS),
      purpose: fc.constantFrom<PurposeOfUse | 'BREAK_GLASS'>('TREAT', 'TREAT', 'BREAK_GLASS', 'BREAK_GLASS', 'ETREAT', 'HPAYMT'),
      defaultScope: fc.constantFrom(true, true, true, false),
    })
    .map(({ role, sub, org, scope, patient, clientId, purpose, defaultScope }) => {
      const base = makeActor(role, { sub, org: role === 'patient' || role === 'app' ? null : org, patient, clientId: role === 'app' ? clientId : null });
      return {
        ...base,
        scope: defaultScope ? base.scope : scope,
        purposeOfUse: purpose === 'BREAK_GLASS' ? 'ETREAT' : purpose,
        breakGlassReason: purpose === 'BREAK_GLASS' ? 'Emergency: patient unconscious' : null,
      };
    });

  const arbDirective: fc.Arbitrary<ConsentDirective> = fc
    .record({
      n: fc.nat(1_000_000),
      patientId: fc.constantFrom(PATIENT, PATIENT, PATIENT, OTHER_PATIENT),
      decision: fc.constantFrom<ConsentDirective['decision']>('permit', 'permit', 'deny'),
      target: fc.oneof(
        fc.constantFrom(...ORGS, 'org-ph').map((id) => ['organization', id] as const),
        fc.constantFrom(...SUBS).map((id) => ['practitioner', id] as const),
        fc.constantFrom(...CLIENTS).map((id) => ['app', id] as const),
        fc.constant(['alliance', null] as const),
      ),
      categories: fc.oneof(fc.constant([] as Category[]), fc.subarray([...CATEGORIES], { minLength: 1, maxLength: 4 })),
      labels: fc.subarray(PROPERTY_LABELS),
      purposes: fc.oneof(fc.constant([] as PurposeOfUse[]), fc.subarray<PurposeOfUse>(['TREAT', 'ETREAT', 'HPAYMT', 'PUBHLTH'], { minLength: 1 })),
      periodStart: fc.constantFrom(...DATES),
      periodEnd: fc.constantFrom(...DATES),
      revokedAt: fc.constantFrom(null, null, null, PAST, AT_NOW, FUTURE),
    })
    .map(({ n, target, ...rest }) => ({ id: `directive-${n}`, actorType: target[0], actorId: target[1], ...rest }));

  const arbFacts: fc.Arbitrary<PatientFacts> = fc.record({
    patientId: fc.constant(PATIENT),
    registeredOrganizationIds: fc.subarray([...ORGS]),
    programmeOrganizationIds: fc.subarray([...ORGS, 'org-ph']),
    directives: fc.array(arbDirective, { maxLength: 6 }),
  });

  const arbRecord = fc.record({
    category: fc.constantFrom(...CATEGORIES),
    organizationId: fc.constantFrom(...ORGS),
    labels: fc.subarray(PROPERTY_LABELS),
  });

  it('property: what roleMaySee closes to a role, decide never allows it, whatever the facts (the Bulk Data export skips it)', () => {
    expect(CATEGORIES.filter((c) => !roleMaySee('public_health', c)).length).toBeGreaterThan(0);
    fc.assert(
      fc.property(arbActor, arbFacts, arbRecord, (actor, patientFacts, r) =>
        roleMaySee(actor.role, r.category) || !decide(actor, rec(r.category, r.organizationId, r.labels), patientFacts, NOW).allow),
      { numRuns: 3000 },
    );
  });

  it('property: the SQL predicate derived by recordFilter equals decide(...).allow (2000+ random cases)', () => {
    fc.assert(
      fc.property(arbActor, arbFacts, arbRecord, (actor, patientFacts, r) => {
        const record = rec(r.category, r.organizationId, r.labels);
        const filter = recordFilter(actor, r.category, patientFacts, ORGS, NOW);
        return sqlPredicate(filter, record) === decide(actor, record, patientFacts, NOW).allow;
      }),
      { numRuns: 3000 },
    );
  });

  it('property: without break-glass actors, the SQL predicate equals decide(...).allow exactly (2000+ random cases)', () => {
    fc.assert(
      fc.property(
        arbActor.filter((a) => !(a.purposeOfUse === 'ETREAT' && a.breakGlassReason)),
        arbFacts,
        arbRecord,
        (actor, patientFacts, r) => {
          const record = rec(r.category, r.organizationId, r.labels);
          const filter = recordFilter(actor, r.category, patientFacts, ORGS, NOW);
          expect(sqlPredicate(filter, record)).toBe(decide(actor, record, patientFacts, NOW).allow);
        },
      ),
      { numRuns: 2500 },
    );
  });

  it('property: break-glass actors on records without V or with at most one label agree exactly (2000+ random cases)', () => {
    fc.assert(
      fc.property(
        arbActor.map((a) => ({ ...a, purposeOfUse: 'ETREAT' as const, breakGlassReason: 'Emergency: patient unconscious' })),
        arbFacts,
        arbRecord.filter((r) => !r.labels.includes('V') || r.labels.length <= 1),
        (actor, patientFacts, r) => {
          const record = rec(r.category, r.organizationId, r.labels);
          const filter = recordFilter(actor, r.category, patientFacts, ORGS, NOW);
          expect(sqlPredicate(filter, record)).toBe(decide(actor, record, patientFacts, NOW).allow);
        },
      ),
      { numRuns: 2500 },
    );
  });
});
