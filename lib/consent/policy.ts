/**
 * The consent policy: one pure function deciding whether an actor may see one
 * record of a patient, given the patient's consent directives. Every subgraph
 * uses it, for record filtering (in SQL, via `recordFilter`) and for field
 * rules (graphql-shield). The rules it implements are written out once, for
 * users and for this code, in docs/security.md ("Consent"): 1 admin, 2 patient,
 * 3 app, 4 staff, 5 break-glass, 6 public health, 7 institution systems; the
 * functions below cite them by number.
 *
 * Scopes are a ceiling for every role: a token never reaches a category its
 * scopes do not cover. A `patient` claim binds every token, whatever its
 * role, to that patient: `patient/` scopes mean the patient in context, and
 * a claim never widens what the role may see.
 */
import { breaksGlass, readsAsStaff, type Actor, type PurposeOfUse } from '../trust/actor.js';
import { parseScopes, scopesAllow, type Category, type ParsedScopes } from '../trust/scopes.js';

export interface ConsentDirective {
  id: string;
  patientId: string;
  decision: 'permit' | 'deny';
  /** Who the provision is about. */
  actorType: 'organization' | 'practitioner' | 'app' | 'alliance';
  /** Organisation id, practitioner (token `sub`) or app `client_id`; null for the whole alliance. */
  actorId: string | null;
  /** Categories covered; empty means every category. */
  categories: Category[];
  /** Sensitivity labels the provision names (a permit must name a label to open it). */
  labels: string[];
  /** Purposes of use covered; empty means any. */
  purposes: PurposeOfUse[];
  periodStart: string | null;
  periodEnd: string | null;
  revokedAt: string | null;
}

/** What the policy needs to know about a patient besides the record. */
export interface PatientFacts {
  patientId: string;
  /**
   * Organisations holding a medical record number for the patient: they
   * reach the patient (find them, open their lists); what they see of the
   * Patient record is their own registration (what they sent), rule 4.
   */
  registeredOrganizationIds: string[];
  /** Organisations running a programme the patient is actively enrolled in. */
  programmeOrganizationIds: string[];
  directives: ConsentDirective[];
}

export interface RecordFacts {
  patientId: string;
  category: Category;
  /**
   * The producing organisation; null for the Patient record itself (the
   * patient's demographics, identifiers and directives as the alliance holds
   * them): no organisation's own record, open to staff only under a permit.
   * An organisation's registration of the patient (what it sent) is its own
   * record: pass that organisation.
   */
  organizationId: string | null;
  sensitivityLabels: string[];
  /**
   * The record's FHIR resource type where its category spans several
   * (lab results are Observations, lab reports DiagnosticReports): scopes
   * must name it. Omitted, scopes are checked by category alone.
   */
  resourceType?: string;
}

export type Decision =
  | { allow: true; breakGlass: boolean; rule: string }
  | { allow: false; code: 'FORBIDDEN' | 'CONSENT_DENIED'; reason: string };

export const PUBLIC_HEALTH_CATEGORIES: Category[] = ['demographics', 'immunizations', 'programs', 'follow-ups', 'home-measurements'];
export const VERY_RESTRICTED = 'V';

/**
 * Whether `decide` could ever allow this role a record of this category, whatever the patient's directives,
 * enrolments and registrations: never for administrators (rule 1), only the programme categories for public
 * health (rule 6). A reader of many patients (the Bulk Data export) need not ask for what is closed to the role
 * anyway. `decide` uses it for rule 6; rule 1 stays its first check (before the token's patient and scopes), and the
 * property test in lib/test/policy.test.ts holds the two together for every role.
 */
export function roleMaySee(role: Actor['role'], category: Category): boolean {
  if (role === 'admin') return false;
  if (role === 'public_health') return PUBLIC_HEALTH_CATEGORIES.includes(category);
  return true;
}

const allow = (rule: string, breakGlass = false): Decision => ({ allow: true, breakGlass, rule });
const forbidden = (reason: string): Decision => ({ allow: false, code: 'FORBIDDEN', reason });
const consentDenied = (reason: string): Decision => ({ allow: false, code: 'CONSENT_DENIED', reason });

const scopeCache = new WeakMap<Actor, ParsedScopes>();
function scopesOf(actor: Actor): ParsedScopes {
  let scopes = scopeCache.get(actor);
  if (!scopes) {
    scopes = parseScopes(actor.scope);
    scopeCache.set(actor, scopes);
  }
  return scopes;
}

/** Whether a directive is in force at `now` (not revoked, inside its period). */
export function isActive(directive: ConsentDirective, now: Date): boolean {
  if (directive.revokedAt && Date.parse(directive.revokedAt) <= now.getTime()) return false;
  if (directive.periodStart && Date.parse(directive.periodStart) > now.getTime()) return false;
  if (directive.periodEnd && Date.parse(directive.periodEnd) <= now.getTime()) return false;
  return true;
}

const coversCategory = (directive: ConsentDirective, category: Category) => directive.categories.length === 0 || directive.categories.includes(category);
const coversPurpose = (directive: ConsentDirective, purpose: PurposeOfUse) => directive.purposes.length === 0 || directive.purposes.includes(purpose);
/** A deny naming labels closes only records carrying one of them; without labels it closes the whole category. */
const denyReaches = (directive: ConsentDirective, record: RecordFacts) =>
  directive.labels.length === 0 || record.sensitivityLabels.some((label) => directive.labels.includes(label));

/** Whether a directive is about this staff member: their organisation, themselves, or the whole alliance. */
const concernsStaff = (directive: ConsentDirective, actor: Actor) => namesStaff(directive, actor) || directive.actorType === 'alliance';

function namesStaff(directive: ConsentDirective, actor: Actor): boolean {
  return (directive.actorType === 'organization' && directive.actorId === actor.org) || (directive.actorType === 'practitioner' && directive.actorId === actor.sub);
}

/** A deny naming this staff member or their organisation that covers the record: it closes the record to them (rules 4, 6, 7). */
const personalDenyOf = (active: ConsentDirective[], actor: Actor, record: RecordFacts) =>
  active.find((d) => d.decision === 'deny' && namesStaff(d, actor) && coversCategory(d, record.category) && coversPurpose(d, actor.purposeOfUse) && denyReaches(d, record));

/** The record's sensitivity labels none of these permits names: each must be named for the record to open. */
const unnamedLabels = (record: RecordFacts, permits: ConsentDirective[]) =>
  record.sensitivityLabels.filter((label) => !permits.some((d) => d.labels.includes(label)));

export function decide(actor: Actor, record: RecordFacts, facts: PatientFacts, now: Date): Decision {
  // 1. Administrators never read clinical data.
  if (actor.role === 'admin') return forbidden('Administrators do not read patient data');
  // A patient claim binds the token to that patient, for every role and every path.
  if (actor.patient && actor.patient !== record.patientId) return forbidden('This token is bound to another patient');
  // Scopes are a ceiling for everyone.
  if (!scopesAllow(scopesOf(actor), record.category, 'read', record.resourceType)) {
    return forbidden(`The token's scopes do not cover ${record.resourceType ? `${record.resourceType} (${record.category})` : record.category}`);
  }
  const active = facts.directives.filter((d) => d.patientId === record.patientId && isActive(d, now));

  switch (actor.role) {
    // 2. Patients see their own record (the claim is bound above and required for the role).
    case 'patient':
      return actor.patient ? allow('own-record') : forbidden('A patient token names its patient');
    // 3. Apps: the token's patient, under the patient's approval of this app for the category (scopes checked above).
    case 'app': {
      if (!actor.patient) return forbidden('An app token names its patient');
      const aboutApp = active.filter((d) => namesApp(d, actor) && coversCategory(d, record.category) && coversPurpose(d, actor.purposeOfUse));
      if (aboutApp.some((d) => d.decision === 'deny' && denyReaches(d, record))) return consentDenied(`The patient has withdrawn ${record.category} from this app`);
      const approvals = aboutApp.filter((d) => d.decision === 'permit');
      if (approvals.length === 0) return consentDenied(`The patient has not approved this app for ${record.category}`);
      const unnamed = unnamedLabels(record, approvals);
      if (unnamed.length) return consentDenied(`Sensitive record (${unnamed.join(', ')}): the patient's approval of this app does not name it`);
      return allow('app-approved');
    }
    // 6. Public health: programme categories of enrolled patients; denies and sensitivity labels honoured.
    case 'public_health': {
      if (!roleMaySee(actor.role, record.category)) return forbidden(`Public-health staff do not see ${record.category}`);
      // A deny naming the staff member or their organisation closes the record to them, as it does for clinical staff (rule 4).
      if (personalDenyOf(active, actor, record)) return consentDenied('The patient has refused access to you or your organisation');
      if (!actor.org || !facts.programmeOrganizationIds.includes(actor.org)) return consentDenied('The patient is not enrolled in a programme your organisation runs');
      // Sensitivity labels are honoured as for everyone beyond the producer (rule 4): a labelled record needs a
      // permit for them or their organisation naming each of its labels (the programme rule alone does not).
      const ownPermits = active.filter((d) => d.decision === 'permit' && namesStaff(d, actor) && coversCategory(d, record.category) && coversPurpose(d, actor.purposeOfUse));
      const unnamed = unnamedLabels(record, ownPermits);
      if (unnamed.length) return consentDenied(`Sensitive record (${unnamed.join(', ')}): the patient's consent does not name it`);
      return allow('programme-enrolment');
    }
    case 'clinician':
    case 'nurse': {
      const standard = staffDecision(actor, record, facts, active);
      if (standard.allow) return standard;
      // 5. Break-glass opens what rule 4 closes, except very restricted records.
      if (breaksGlass(actor)) {
        if (record.sensitivityLabels.includes(VERY_RESTRICTED)) return consentDenied('Very restricted (V) records are closed even in an emergency');
        return allow('break-glass', true);
      }
      return standard;
    }
    // 7. An institution's system: rule 4 as its organisation's staff, never break-glass.
    case 'system':
      return staffDecision(actor, record, facts, active);
    default:
      return forbidden('Unknown role');
  }
}

/**
 * Whether the actor may reach the patient at all (find them by id, open their
 * lists), even where the demographics stay closed: whoever may see the
 * Patient record, and staff holding an active permit of the patient, for any
 * category, for the purpose they act for. A clinician at the county hospital
 * the patient shared lab results with finds the patient and sees those
 * results; the name stays null unless the permit covers demographics.
 */
export function mayReachPatient(actor: Actor, facts: PatientFacts, now: Date): boolean {
  const known = reachWithoutFacts(actor, facts.patientId);
  if (known !== undefined) return known;
  if (decide(actor, { patientId: facts.patientId, category: 'demographics', organizationId: null, sensitivityLabels: [] }, facts, now).allow) return true;
  // An app reaches its patient while it holds an approval of theirs, for any category (fields it does not cover stay closed).
  if (actor.role === 'app') return facts.directives.some((d) => d.patientId === facts.patientId && d.decision === 'permit' && namesApp(d, actor) && isActive(d, now));
  if (!readsAsStaff(actor)) return false;
  const active = facts.directives.filter((d) => d.patientId === facts.patientId && isActive(d, now) && coversPurpose(d, actor.purposeOfUse));
  // Staff of a registering organisation reach the patient whatever categories their token's scopes
  // name, unless the patient refused them or their organisation everything.
  const refusedEverything = active.some((d) => d.decision === 'deny' && namesStaff(d, actor) && d.categories.length === 0 && d.labels.length === 0);
  if (refusedEverything) return false;
  if (actor.org && facts.registeredOrganizationIds.includes(actor.org)) return true;
  return active.some((d) => d.decision === 'permit' && concernsStaff(d, actor));
}

/**
 * Whether the patient has authorised this staff member at all: an active
 * permit of the patient for them, their organisation or the whole alliance,
 * for the purpose they act for (any category). A registration alone is no
 * authorisation: it tells its organisation nothing about records elsewhere,
 * not even how many there are (the timeline's withheld count).
 */
export function authorisedByPatient(actor: Actor, facts: PatientFacts, now: Date): boolean {
  if (!readsAsStaff(actor) || (actor.patient && actor.patient !== facts.patientId)) return false;
  return facts.directives.some((d) => d.patientId === facts.patientId && d.decision === 'permit' && isActive(d, now)
    && coversPurpose(d, actor.purposeOfUse) && concernsStaff(d, actor));
}

/**
 * Whether a directive concerns this staff member: it names them, their
 * organisation or the whole alliance (a deny of that kind is the patient's
 * to lift, never theirs).
 */
export const directiveConcernsStaff = (directive: Pick<ConsentDirective, 'actorType' | 'actorId'>, actor: Actor) =>
  concernsStaff(directive as ConsentDirective, actor);

/**
 * The part of mayReachPatient that needs no facts of the patient: never for
 * administrators or a token bound to another patient; always for patients
 * bound to this one. Undefined when the facts decide (apps: their approval).
 */
export function reachWithoutFacts(actor: Actor, patientId: string): boolean | undefined {
  if (actor.role === 'admin') return false;
  if (actor.patient && actor.patient !== patientId) return false;
  if (actor.role === 'patient') return actor.patient === patientId;
  if (actor.role === 'app' && actor.patient !== patientId) return false;
  return undefined;
}

/** Whether a directive is about this app (its client_id). */
const namesApp = (directive: ConsentDirective, actor: Actor) => directive.actorType === 'app' && actor.clientId !== null && directive.actorId === actor.clientId;

/**
 * Whether an active permit names an organisation for `category` and
 * `purpose` (what a referral's consent request asks the patient for).
 */
export function permitsOrganization(facts: PatientFacts, organizationId: string, category: Category, purpose: PurposeOfUse, now: Date): boolean {
  return facts.directives.some((d) => d.patientId === facts.patientId && d.decision === 'permit' && d.actorType === 'organization'
    && d.actorId === organizationId && isActive(d, now) && coversCategory(d, category) && coversPurpose(d, purpose));
}

/** Rule 4: staff of the producing organisation, or a permit. */
function staffDecision(actor: Actor, record: RecordFacts, facts: PatientFacts, active: ConsentDirective[]): Decision {
  const purpose = actor.purposeOfUse;
  if (personalDenyOf(active, actor, record)) return consentDenied('The patient has refused access to you or your organisation');
  // The Patient record itself is nobody's own: knowing an identifier and registering the patient
  // gives an organisation its own registration (a record it produced), never what others recorded.
  if (record.organizationId !== null && record.organizationId === actor.org) return allow('own-organization');

  const applicable = active.filter((d) => concernsStaff(d, actor) && coversCategory(d, record.category) && coversPurpose(d, purpose));
  if (applicable.some((d) => d.decision === 'deny' && denyReaches(d, record))) return consentDenied('The patient has not agreed to share this beyond the organisation that produced it');
  const permits = applicable.filter((d) => d.decision === 'permit');
  if (permits.length === 0) return consentDenied(`No consent covers ${record.category} from another organisation`);
  const unnamed = unnamedLabels(record, permits);
  if (unnamed.length) return consentDenied(`Sensitive record (${unnamed.join(', ')}): the patient's consent does not name it`);
  return allow('permit');
}
