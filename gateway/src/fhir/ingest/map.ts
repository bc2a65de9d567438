/**
 * FHIR R4 resources → the owners' entries: the export's mapping (../mapping.ts)
 * read backwards, with the same code systems (../terminology.ts), so what
 * `$everything` gives out can be published back and exported again unchanged.
 *
 * Everything that can be checked without the owners' data is checked here,
 * before anything is sent anywhere: the shape of every element the product
 * stores, the codes against the systems the product knows (LOINC with its
 * check digit, ICD-10, CVX, DICOM modalities, SNOMED CT with its Verhoeff
 * digit, the HL7 v3 sensitivity labels), the write scopes per resource type,
 * and provenance. Each problem is an issue naming the element by its FHIRPath
 * (`Bundle.entry[2].resource.code.coding[0].code`).
 *
 * Provenance: the producing organisation of every record is the caller's
 * organisation (the token's `org`), never a value from the payload. An
 * element that names the producer (Encounter.serviceProvider,
 * Observation.performer, DiagnosticReport.performer, ServiceRequest.requester,
 * Immunization.performer.actor, EpisodeOfCare.managingOrganization, an MR
 * identifier's assigner or system) may be left out, or name the caller's own
 * organisation; naming another is refused (403), never silently rewritten, so
 * an integration that mixes up its organisations finds out at once.
 * Elements that name *other* organisations on purpose (the receiving
 * organisation of a referral) are kept.
 */
import { randomUUID } from 'node:crypto';
import type { Actor } from '../../../../lib/actor.js';
import { labelsForResource } from '../../../../lib/consent/sensitive-codes.js';
import type { BusinessIdentifier, EntryRef, IngestIssueType, StageEntry } from '../../../../lib/ingest/types.js';
import { isUuidText, RESOURCE_OWNERS } from '../../../../lib/ingest/types.js';
import { parseScopes, scopesAllowWrite, type Category } from '../../../../lib/scopes.js';
import type { SubgraphName } from '../../../../lib/services.js';
import {
  isCvxCode, isDicomModality, isIcd10Code, isLoincCode, isSnomedCtId, looksLikeLoinc, looksLikeSnomedCt, sensitivityLabelOf, SYSTEM,
  type SensitivityLabel,
} from '../../../../lib/terminology.js';
import { ENCOUNTER_CLASS, ENCOUNTER_STATUS, EPISODE_STATUS, IMMUNIZATION_STATUS, OBSERVATION_STATUS, REPORT_CATEGORY, REPORT_STATUS, SYSTEMS } from '../terminology.js';

type Json = Record<string, any>;

/** One problem with the request, for the OperationOutcome. */
export interface Issue {
  index: number;
  status: number;
  code: IngestIssueType;
  message: string;
  expression: string;
}

/** How an entry names its patient, resolved by identity before the other owners stage. */
export type PatientLink = { entry: number } | { id: string } | { identifier: BusinessIdentifier };

/** An entry ready for its owner, but for the patient id. */
export interface MappedEntry extends Omit<StageEntry, 'patientId'> {
  owner: SubgraphName;
  /** Patient entries: themselves; the others: their subject. */
  patient: PatientLink;
  /** Where the patient reference is (for issues). */
  patientExpression: string;
}

/** What the request's entries say about each other (fullUrl → entry). */
export interface BundleContext {
  actor: Actor;
  organizationId: string;
  /** fullUrl (urn:uuid:…, or Type/id) → entry index and resource type. */
  fullUrls: Map<string, { index: number; resourceType: string }>;
  /** Batch: entries may not refer to one another. */
  independent: boolean;
}

/** The request of one entry: create (POST, conditional with ifNoneExist) or update (PUT Type/id). */
export interface EntryRequest {
  method: 'POST' | 'PUT';
  /** PUT: the id from the URL. */
  id?: string;
  ifNoneExist?: string | null;
  /** FHIRPath of the request's url (for issues). */
  expression: string;
}

export const SUPPORTED_TYPES = Object.keys(RESOURCE_OWNERS);

const INTERPRETATIONS = new Set(['N', 'H', 'L', 'A', 'HH', 'LL', 'HU', 'LU', 'AA', 'POS', 'NEG', 'IND', 'DET', 'ND', 'R', 'S', 'I']);
const INTERPRETATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
const CONDITION_CLINICAL = new Set(['active', 'recurrence', 'relapse', 'inactive', 'remission', 'resolved']);
const CLASS_CODES = new Map(Object.values(ENCOUNTER_CLASS).map((c) => [c.code, c.code]));
/** v2-0074 section → the labs subgraph's report category (RAD goes to imaging). */
const LAB_CATEGORY: Record<string, string> = Object.fromEntries(Object.entries(REPORT_CATEGORY).filter(([name]) => name !== 'RAD').map(([name, c]) => [c.code, name]));
/** ServiceRequest.status → the referral workflow's status (the export maps them the other way; `active` with an appointment is accepted). */
const REFERRAL_STATUS_IN: Record<string, string> = { active: 'requested', completed: 'completed', revoked: 'cancelled' };
const DICOM_UID = /^[0-2](?:\.(?:0|[1-9]\d*))+$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/** Collects issues for one entry, with expressions below its resource. */
class EntryIssues {
  constructor(readonly list: Issue[], readonly index: number, readonly base: string) {}

  add(status: number, code: IngestIssueType, message: string, element = ''): undefined {
    this.list.push({ index: this.index, status, code, message, expression: element ? `${this.base}.${element}` : this.base });
    return undefined;
  }
}

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function text(value: unknown, issues: EntryIssues, element: string, options: { required?: boolean; max?: number } = {}): string | null {
  if (value === undefined || value === null) return options.required ? issues.add(400, 'required', `${element} is required`, element) ?? null : null;
  if (typeof value !== 'string' || !value.trim()) return issues.add(400, 'value', `${element} must be a non-empty string`, element) ?? null;
  if (value.length > (options.max ?? 2000)) return issues.add(400, 'value', `${element} is longer than ${options.max ?? 2000} characters`, element) ?? null;
  return value;
}

/** A FHIR dateTime / instant with a time zone (or a date), as an ISO instant. */
function instant(value: unknown, issues: EntryIssues, element: string, required = false): string | null {
  if (value === undefined || value === null) return required ? issues.add(400, 'required', `${element} is required`, element) ?? null : null;
  if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
    return issues.add(400, 'value', `${element} must be a FHIR dateTime, e.g. 2026-03-01T08:30:00Z`, element) ?? null;
  }
  if (value.includes('T') && !/(Z|[+-]\d{2}:\d{2})$/.test(value)) return issues.add(400, 'value', `${element} needs a time zone`, element) ?? null;
  return new Date(value).toISOString();
}

function date(value: unknown, issues: EntryIssues, element: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || !DATE.test(value) || Number.isNaN(Date.parse(value))) return issues.add(400, 'value', `${element} must be a date, YYYY-MM-DD`, element) ?? null;
  return value;
}

function number(value: unknown, issues: EntryIssues, element: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value)) return issues.add(400, 'value', `${element} must be a number`, element) ?? null;
  return value;
}

function integer(value: unknown, issues: EntryIssues, element: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || (value as number) < 0) return issues.add(400, 'value', `${element} must be a non-negative integer`, element) ?? fallback;
  return value as number;
}

/**
 * The coding of `system` in a CodeableConcept, its code checked with
 * `valid` (and `shape`, to tell a wrong system from a wrong check digit).
 */
function codingOf(
  concept: unknown, system: string, issues: EntryIssues, element: string,
  check: { name: string; valid: (code: string) => boolean; shape?: (code: string) => boolean; required?: boolean },
): { code: string; display: string | null } | null {
  if (concept === undefined || concept === null) return check.required ? issues.add(400, 'required', `${element} is required (${check.name})`, element) ?? null : null;
  if (!isObject(concept) || (concept.coding !== undefined && !Array.isArray(concept.coding))) return issues.add(400, 'structure', `${element} must be a CodeableConcept`, element) ?? null;
  const codings = (concept.coding ?? []) as unknown[];
  const position = codings.findIndex((c) => isObject(c) && c.system === system);
  if (position < 0) return issues.add(400, 'code-invalid', `${element} needs a coding in ${system} (${check.name})`, `${element}.coding`) ?? null;
  const coding = codings[position] as Json;
  const code = typeof coding.code === 'string' ? coding.code.trim() : '';
  if (!check.valid(code)) {
    const why = check.shape && check.shape(code) ? 'its check digit is wrong' : `it is not a ${check.name} code`;
    return issues.add(400, 'code-invalid', `${code || 'The code'} is not valid in ${system}: ${why}`, `${element}.coding[${position}].code`) ?? null;
  }
  const display = typeof coding.display === 'string' ? coding.display : typeof concept.text === 'string' ? concept.text : null;
  return { code, display };
}

/** The Coding of `system` in a list of Codings (ImagingStudy.modality), or a single Coding (`single`: series.bodySite). */
function codingInList(
  list: unknown, system: string, issues: EntryIssues, element: string,
  check: { name: string; valid: (code: string) => boolean; shape?: (code: string) => boolean; required?: boolean }, single = false,
): { code: string; display: string | null } | null {
  const codings = Array.isArray(list) ? (list as unknown[]) : [];
  const position = codings.findIndex((c) => isObject(c) && c.system === system);
  if (position < 0) return check.required || codings.length ? issues.add(400, 'code-invalid', `${element} needs a Coding in ${system} (${check.name})`, element) ?? null : null;
  const coding = codings[position] as Json;
  const code = typeof coding.code === 'string' ? coding.code.trim() : '';
  const at = single ? `${element}.code` : `${element}[${position}].code`;
  if (!check.valid(code)) {
    const why = check.shape && check.shape(code) ? 'its check digit is wrong' : `it is not a ${check.name} code`;
    return issues.add(400, 'code-invalid', `${code || 'The code'} is not valid in ${system}: ${why}`, at) ?? null;
  }
  return { code, display: typeof coding.display === 'string' ? coding.display : null };
}

/** Sensitivity labels from meta.security, as sent (V included); derived confidentiality (R…) is recomputed on export. */
function labelsOf(resource: Json, issues: EntryIssues): SensitivityLabel[] {
  const security = resource.meta?.security;
  if (security === undefined) return [];
  if (!Array.isArray(security)) return issues.add(400, 'structure', 'meta.security must be a list of Codings', 'meta.security') ?? [];
  const labels = new Set<SensitivityLabel>();
  security.forEach((coding: unknown, n: number) => {
    if (isObject(coding) && coding.system === SYSTEMS.securityObservation && coding.code === 'REDACTED') {
      issues.add(422, 'business-rule', 'A redacted resource (elements withheld from you) cannot be published: publish the complete record', `meta.security[${n}]`);
      return;
    }
    const label = isObject(coding) ? sensitivityLabelOf(coding) : undefined;
    if (label === undefined) issues.add(400, 'code-invalid', 'Unknown security label: use HL7 v3 ActCode sensitivity codes (HIV, PSY, ETH, GDIS, SDV, SEX, STD) or v3-Confidentiality', `meta.security[${n}]`);
    else if (label) labels.add(label);
  });
  return [...labels];
}

/** A literal reference, relative or absolute (any base, with or without _history): its type and id. */
const LITERAL_REFERENCE = /^(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/[^?#]*\/)?([A-Z][A-Za-z]+)\/([^/?#]+)(?:\/_history\/[^/?#]+)?$/;

/**
 * An element naming the producer: absent, display only, or the caller's own organisation, in every form a
 * reference takes — `Organization/{id}`, an absolute URL ending in it, a logical reference by identifier
 * (`SYSTEM.organization`, the registry id). Anything else that could name an organisation (another one, a
 * contained or bundled resource, a PractitionerRole, an identifier the product cannot check) is refused (403,
 * the element named), never rewritten or dropped. Where the element may name a person, a Practitioner is fine.
 */
function ownOrganization(reference: unknown, context: BundleContext, issues: EntryIssues, element: string, practitioner = false): void {
  if (reference === undefined || reference === null) return;
  if (!isObject(reference)) {
    issues.add(400, 'invalid', `${element} must be a Reference`, element);
    return;
  }
  const own = context.organizationId;
  const refuse = (named: string) =>
    issues.add(403, 'forbidden', `Records are published as your own organisation (${own}); ${named} cannot be named as their producer`, element);
  const { reference: ref, identifier, type } = reference;
  const person = practitioner && (type === undefined || type === 'Practitioner');
  if (ref !== undefined) {
    const match = typeof ref === 'string' ? LITERAL_REFERENCE.exec(ref) : null;
    if (typeof ref !== 'string') issues.add(400, 'invalid', `${element}.reference must be a string`, element);
    else if (match?.[1] === 'Organization') {
      if (match[2] !== own) refuse(ref);
    } else if (!(match?.[1] === 'Practitioner' && person)) refuse(ref);
  }
  if (identifier !== undefined) {
    const ownIdentifier = isObject(identifier) && identifier.system === SYSTEM.organization && identifier.value === own;
    if (!ownIdentifier && !(type === 'Practitioner' && practitioner)) refuse(`the organisation identified as ${isObject(identifier) ? `${String(identifier.system)}|${String(identifier.value)}` : 'given'}`);
  }
  if (type !== undefined && type !== 'Organization' && !(type === 'Practitioner' && practitioner)) refuse(`a ${String(type)}`);
}

/** A Practitioner reference → the registry id. */
function practitionerId(reference: unknown, issues: EntryIssues, element: string): string | null {
  if (!isObject(reference) || reference.reference === undefined) return null;
  const match = typeof reference.reference === 'string' ? /^Practitioner\/([A-Za-z0-9\-.]{1,64})$/.exec(reference.reference) : null;
  if (!match) return issues.add(400, 'invalid', `${element} must reference a Practitioner of the registry`, element) ?? null;
  return match[1]!;
}

/** A reference to another record: an entry of this request (urn:uuid or Type/id fullUrl), or an existing record Type/id. */
function recordRef(reference: unknown, types: string[], context: BundleContext, issues: EntryIssues, element: string): EntryRef | null {
  if (reference === undefined || reference === null) return null;
  const ref = isObject(reference) ? reference.reference : undefined;
  if (typeof ref !== 'string') return issues.add(400, 'invalid', `${element} must be a reference`, element) ?? null;
  const target = context.fullUrls.get(ref);
  if (target) {
    if (context.independent) return issues.add(400, 'invalid', 'Entries of a batch are independent: reference existing records, not other entries', element) ?? null;
    if (!types.includes(target.resourceType)) return issues.add(400, 'invalid', `${element} must reference a ${types.join(' or ')}`, element) ?? null;
    return { entry: target.index };
  }
  const match = /^([A-Za-z]+)\/([0-9a-fA-F-]{36})$/.exec(ref);
  if (match && types.includes(match[1]!) && isUuidText(match[2])) return { id: match[2]!.toLowerCase() };
  if (ref.startsWith('urn:uuid:')) return issues.add(400, 'invalid', `${ref} is not the fullUrl of an entry of this Bundle`, element) ?? null;
  return issues.add(400, 'invalid', `${element} must reference a ${types.join(' or ')} (an entry of this Bundle, or Type/id)`, element) ?? null;
}

/** The patient an entry is about: a Patient entry, Patient/{id}, or a logical reference by identifier. */
function patientLink(reference: unknown, context: BundleContext, issues: EntryIssues, element: string): PatientLink | null {
  if (!isObject(reference)) return issues.add(400, 'required', `${element} is required: the Patient the record is about`, element) ?? null;
  if (reference.reference === undefined && isObject(reference.identifier)) {
    const system = text(reference.identifier.system, issues, `${element}.identifier.system`, { required: true, max: 500 });
    const value = text(reference.identifier.value, issues, `${element}.identifier.value`, { required: true, max: 200 });
    return system && value ? { identifier: { system, value } } : null;
  }
  const ref = recordRef(reference, ['Patient'], context, issues, element);
  if (!ref) return null;
  return 'entry' in ref ? { entry: ref.entry } : { id: ref.id };
}

function identifiersOf(resource: Json, issues: EntryIssues): BusinessIdentifier[] {
  if (resource.identifier === undefined) return [];
  if (!Array.isArray(resource.identifier)) return issues.add(400, 'structure', 'identifier must be a list', 'identifier') ?? [];
  const out: BusinessIdentifier[] = [];
  resource.identifier.forEach((identifier: unknown, n: number) => {
    const item = isObject(identifier) ? identifier : {};
    const system = text(item.system, issues, `identifier[${n}].system`, { required: true, max: 500 });
    const value = text(item.value, issues, `identifier[${n}].value`, { required: true, max: 200 });
    if (system && value) out.push({ system, value });
  });
  return out;
}

/** `ifNoneExist` (or If-None-Exist): `identifier=system|value`, several separated by commas (any of them). */
export function parseIfNoneExist(value: unknown, issues: EntryIssues | null, element: string): BusinessIdentifier[] | null {
  if (value === undefined || value === null || value === '') return null;
  const fail = (message: string) => {
    issues?.add(400, 'not-supported', message, element);
    return null;
  };
  if (typeof value !== 'string') return fail('ifNoneExist must be a search string');
  const query = value.startsWith('?') ? value.slice(1) : value.replace(/^[A-Za-z]+\?/, '');
  const found: BusinessIdentifier[] = [];
  for (const [name, raw] of new URLSearchParams(query)) {
    if (name !== 'identifier') return fail(`ifNoneExist supports identifier=system|value only (not ${name})`);
    for (const token of raw.split(',')) {
      const bar = token.indexOf('|');
      if (bar <= 0 || bar === token.length - 1) return fail('ifNoneExist needs identifier=system|value, with both parts');
      found.push({ system: token.slice(0, bar), value: token.slice(bar + 1) });
    }
  }
  return found.length ? found : fail('ifNoneExist names no identifier');
}

interface Mapped {
  kind: string;
  owner: SubgraphName;
  category: Category;
  record: Json;
  refs: Record<string, EntryRef>;
  patient: PatientLink | null;
  patientElement: string;
}

const withDisplay = (coding: { code: string; display: string | null } | null) => (coding ? { code: coding.code, display: coding.display ?? coding.code } : null);

function mapPatient(r: Json, context: BundleContext, issues: EntryIssues, index: number): Mapped {
  const name = Array.isArray(r.name) && isObject(r.name[0]) ? r.name[0] : null;
  const family = text(name?.family, issues, 'name[0].family', { required: true, max: 200 });
  const given = Array.isArray(name?.given) ? (name!.given as unknown[]).filter((g): g is string => typeof g === 'string') : [];
  if (!given.length) issues.add(400, 'required', 'name[0].given is required', 'name[0].given');
  const gender = r.gender === undefined ? 'unknown' : ['male', 'female', 'other', 'unknown'].includes(r.gender) ? r.gender : issues.add(400, 'code-invalid', 'gender must be male, female, other or unknown', 'gender');
  const telecom = Array.isArray(r.telecom) ? (r.telecom as Json[]) : [];
  const address = Array.isArray(r.address) && isObject(r.address[0]) ? r.address[0] : null;
  (Array.isArray(r.identifier) ? r.identifier : []).forEach((identifier: unknown, n: number) => {
    if (!isObject(identifier)) return;
    ownOrganization(identifier.assigner, context, issues, `identifier[${n}].assigner`);
    if (typeof identifier.system === 'string' && identifier.system.startsWith(SYSTEM.mrnPrefix) && identifier.system !== SYSTEM.mrnPrefix + context.organizationId) {
      issues.add(403, 'forbidden', 'An institution adds only its own medical record numbers; other organisations register the patient themselves', `identifier[${n}].system`);
    }
  });
  return {
    kind: 'patient', owner: 'identity', category: 'demographics', refs: {}, patient: { entry: index }, patientElement: '',
    record: {
      family, given, birth_date: date(r.birthDate, issues, 'birthDate'), gender,
      phone: telecom.find((t) => t?.system === 'phone')?.value ?? null,
      email: telecom.find((t) => t?.system === 'email')?.value ?? null,
      address_line: Array.isArray(address?.line) ? address!.line.join(', ') : null,
      address_city: typeof address?.city === 'string' ? address.city : null,
      address_postal_code: typeof address?.postalCode === 'string' ? address.postalCode : null,
    },
  };
}

function mapEncounter(r: Json, context: BundleContext, issues: EntryIssues): Mapped {
  ownOrganization(r.serviceProvider, context, issues, 'serviceProvider');
  const klass = isObject(r.class) ? r.class : null;
  if (!klass) issues.add(400, 'required', 'class is required', 'class');
  else if (klass.system !== SYSTEMS.actCode || !CLASS_CODES.has(klass.code)) issues.add(400, 'code-invalid', `class must be one of ${[...CLASS_CODES.keys()].join(', ')} in ${SYSTEMS.actCode}`, 'class.code');
  const status = text(r.status, issues, 'status', { required: true });
  if (status && !ENCOUNTER_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an encounter-status code', 'status');
  const reason = Array.isArray(r.reasonCode) && r.reasonCode.length
    ? withDisplay(codingOf(r.reasonCode[0], SYSTEM.icd10, issues, 'reasonCode[0]', { name: 'ICD-10', valid: isIcd10Code })) : null;
  const participant = Array.isArray(r.participant) && isObject(r.participant[0]) ? r.participant[0].individual : undefined;
  return {
    kind: 'encounter', owner: 'encounters', category: 'encounters', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
    record: {
      class: klass?.code, status, period_start: instant(r.period?.start, issues, 'period.start', true), period_end: instant(r.period?.end, issues, 'period.end'),
      reason_code: reason?.code ?? null, reason_display: reason?.display ?? null,
      practitioner_id: practitionerId(participant, issues, 'participant[0].individual'), sensitivity_labels: labelsOf(r, issues),
    },
  };
}

function mapCondition(r: Json, context: BundleContext, issues: EntryIssues): Mapped {
  const code = withDisplay(codingOf(r.code, SYSTEM.icd10, issues, 'code', { name: 'ICD-10', valid: isIcd10Code, required: true }));
  const clinical = isObject(r.clinicalStatus) && Array.isArray(r.clinicalStatus.coding) ? r.clinicalStatus.coding[0]?.code : undefined;
  if (!CONDITION_CLINICAL.has(clinical)) issues.add(400, 'code-invalid', 'clinicalStatus needs a condition-clinical code (active, resolved…)', 'clinicalStatus');
  const encounter = recordRef(r.encounter, ['Encounter'], context, issues, 'encounter');
  return {
    kind: 'condition', owner: 'encounters', category: 'diagnoses', refs: encounter ? { encounter } : {},
    patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
    record: {
      code: code?.code, display: code?.display, clinical_status: clinical,
      recorded_date: instant(r.recordedDate ?? r.onsetDateTime, issues, r.recordedDate === undefined && r.onsetDateTime !== undefined ? 'onsetDateTime' : 'recordedDate', true),
      sensitivity_labels: labelsOf(r, issues),
    },
  };
}

function mapServiceRequest(r: Json, context: BundleContext, issues: EntryIssues): Mapped {
  const requester = isObject(r.requester) ? r.requester.reference : undefined;
  let requesterPractitioner: string | null = null;
  if (typeof requester === 'string' && requester.startsWith('Practitioner/')) requesterPractitioner = practitionerId(r.requester, issues, 'requester');
  else ownOrganization(r.requester, context, issues, 'requester');
  const performer = Array.isArray(r.performer) && isObject(r.performer[0]) ? r.performer[0].reference : undefined;
  const performerMatch = typeof performer === 'string' ? /^Organization\/([A-Za-z0-9\-.]{1,64})$/.exec(performer) : null;
  if (!performerMatch) issues.add(400, 'required', 'performer[0] must reference the Organization the patient is referred to', 'performer[0]');
  const status = text(r.status, issues, 'status', { required: true });
  const appointment = instant(r.occurrenceDateTime, issues, 'occurrenceDateTime');
  if (status && !REFERRAL_STATUS_IN[status]) issues.add(422, 'business-rule', 'A published referral is active, completed or revoked', 'status');
  const reason = Array.isArray(r.reasonCode) && r.reasonCode.length
    ? withDisplay(codingOf(r.reasonCode[0], SYSTEM.icd10, issues, 'reasonCode[0]', { name: 'ICD-10', valid: isIcd10Code })) : null;
  const authored = instant(r.authoredOn, issues, 'authoredOn', true);
  return {
    kind: 'referral', owner: 'encounters', category: 'referrals', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
    record: {
      requester_practitioner_id: requesterPractitioner, performer_organization_id: performerMatch?.[1],
      status: status === 'active' && appointment ? 'accepted' : REFERRAL_STATUS_IN[status ?? ''], reason_code: reason?.code ?? null, reason_display: reason?.display ?? null,
      note: Array.isArray(r.note) && typeof r.note[0]?.text === 'string' ? r.note[0].text : null, authored_on: authored, appointment_time: appointment,
      status_changed_at: authored, sensitivity_labels: labelsOf(r, issues),
    },
  };
}

function mapObservation(r: Json, context: BundleContext, issues: EntryIssues): Mapped {
  const categories = Array.isArray(r.category) ? (r.category as Json[]).flatMap((c) => (Array.isArray(c?.coding) ? c.coding : [])) : [];
  if (categories.some((c: Json) => c?.system === SYSTEMS.observationCategory && c.code !== 'laboratory')) {
    issues.add(422, 'not-supported', 'Institutions publish laboratory Observations; home measurements are submitted by the patient', 'category');
  }
  const status = text(r.status, issues, 'status', { required: true });
  if (status && !OBSERVATION_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an observation-status code', 'status');
  const code = withDisplay(codingOf(r.code, SYSTEM.loinc, issues, 'code', { name: 'LOINC', valid: isLoincCode, shape: looksLikeLoinc, required: true }));
  (Array.isArray(r.performer) ? r.performer : []).forEach((p: unknown, n: number) => ownOrganization(p, context, issues, `performer[${n}]`, true));
  const quantity = isObject(r.valueQuantity) ? r.valueQuantity : null;
  const value = quantity ? number(quantity.value, issues, 'valueQuantity.value') : null;
  if (quantity && value === null && quantity.value === undefined) issues.add(400, 'required', 'valueQuantity.value is required', 'valueQuantity.value');
  const valueText = r.valueString !== undefined ? text(r.valueString, issues, 'valueString')
    : isObject(r.valueCodeableConcept) ? (r.valueCodeableConcept.text ?? r.valueCodeableConcept.coding?.[0]?.display ?? r.valueCodeableConcept.coding?.[0]?.code ?? null) : null;
  const range = Array.isArray(r.referenceRange) && isObject(r.referenceRange[0]) ? r.referenceRange[0] : null;
  const interpretation = Array.isArray(r.interpretation) && isObject(r.interpretation[0]) ? r.interpretation[0].coding?.[0] : undefined;
  if (interpretation !== undefined && (interpretation?.system !== INTERPRETATION_SYSTEM || !INTERPRETATIONS.has(interpretation.code))) {
    issues.add(400, 'code-invalid', `interpretation must be a code of ${INTERPRETATION_SYSTEM} (N, H, L, A, POS, NEG…)`, 'interpretation[0].coding[0].code');
  }
  return {
    kind: 'observation', owner: 'labs', category: 'labs', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
    record: {
      code: code?.code, display: code?.display, category: 'laboratory', status,
      value_quantity: value, value_string: quantity ? null : valueText, unit: quantity?.unit ?? quantity?.code ?? range?.low?.unit ?? range?.high?.unit ?? null,
      reference_low: range ? number(range.low?.value, issues, 'referenceRange[0].low.value') : null,
      reference_high: range ? number(range.high?.value, issues, 'referenceRange[0].high.value') : null,
      interpretation: interpretation?.code ?? null, effective: instant(r.effectiveDateTime, issues, 'effectiveDateTime', true), issued: instant(r.issued, issues, 'issued'),
      sensitivity_labels: labelsOf(r, issues),
    },
  };
}

function mapDiagnosticReport(r: Json, context: BundleContext, issues: EntryIssues): Mapped & { results: EntryRef[] } {
  const section = Array.isArray(r.category) ? (r.category as Json[]).flatMap((c) => (Array.isArray(c?.coding) ? c.coding : [])).find((c: Json) => c?.system === SYSTEMS.diagnosticServiceSection)?.code : undefined;
  const status = text(r.status, issues, 'status', { required: true });
  if (status && !REPORT_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not a diagnostic-report-status code', 'status');
  const code = withDisplay(codingOf(r.code, SYSTEM.loinc, issues, 'code', { name: 'LOINC', valid: isLoincCode, shape: looksLikeLoinc, required: true }));
  let performerId: string | null = null;
  (Array.isArray(r.performer) ? r.performer : []).forEach((p: unknown, n: number) => {
    const ref = isObject(p) ? p.reference : undefined;
    if (typeof ref === 'string' && ref.startsWith('Practitioner/')) performerId ??= practitionerId(p, issues, `performer[${n}]`);
    else ownOrganization(p, context, issues, `performer[${n}]`);
  });
  const patient = patientLink(r.subject, context, issues, 'subject');
  const labels = labelsOf(r, issues);
  if (section === 'RAD') {
    // A radiology report belongs to its imaging study (imaging subgraph).
    const study = recordRef(Array.isArray(r.imagingStudy) ? r.imagingStudy[0] : undefined, ['ImagingStudy'], context, issues, 'imagingStudy[0]');
    if (!study && !(Array.isArray(r.imagingStudy) && r.imagingStudy.length)) issues.add(400, 'required', 'A radiology report references its ImagingStudy', 'imagingStudy');
    const findings = Array.isArray(r.presentedForm) && typeof r.presentedForm[0]?.data === 'string' ? Buffer.from(r.presentedForm[0].data, 'base64').toString('utf8') : '';
    const radiologist = Array.isArray(r.resultsInterpreter) ? practitionerId(r.resultsInterpreter[0], issues, 'resultsInterpreter[0]') : null;
    return {
      kind: 'imaging-report', owner: 'imaging', category: 'imaging-reports', refs: study ? { study } : {}, patient, patientElement: 'subject', results: [],
      record: {
        status, findings, impression: text(r.conclusion, issues, 'conclusion', { required: true, max: 10_000 }), radiologist_id: radiologist ?? performerId, issued: instant(r.issued, issues, 'issued'),
        sensitivity_labels: labels,
      },
    };
  }
  if (section !== undefined && !LAB_CATEGORY[section]) issues.add(400, 'code-invalid', 'category must be a v2-0074 section: LAB, EC, PAT or RAD', 'category');
  const results = (Array.isArray(r.result) ? r.result : []).map((ref: unknown, n: number) => recordRef(ref, ['Observation'], context, issues, `result[${n}]`));
  results.forEach((ref: EntryRef | null, n: number) => {
    if (ref && 'id' in ref) issues.add(422, 'not-supported', 'A report lists results published with it in the same Bundle', `result[${n}]`);
  });
  return {
    kind: 'diagnostic-report', owner: 'labs', category: 'labs', refs: {}, patient, patientElement: 'subject',
    results: results.filter((ref: EntryRef | null): ref is EntryRef => Boolean(ref)),
    record: {
      code: code?.code, display: code?.display, category: LAB_CATEGORY[section ?? 'LAB'] ?? 'LAB', status, effective: instant(r.effectiveDateTime, issues, 'effectiveDateTime', true),
      issued: instant(r.issued, issues, 'issued'), conclusion: r.conclusion === undefined ? null : text(r.conclusion, issues, 'conclusion', { max: 10_000 }),
      performer_id: performerId, sensitivity_labels: labels,
    },
  };
}

function mapImagingStudy(r: Json, context: BundleContext, issues: EntryIssues): Mapped {
  const identifiers = Array.isArray(r.identifier) ? (r.identifier as Json[]) : [];
  const position = identifiers.findIndex((i) => i?.system === SYSTEMS.dicomUid);
  const uid = position >= 0 && typeof identifiers[position]!.value === 'string' ? identifiers[position]!.value.replace(/^urn:oid:/, '') : null;
  if (position < 0) issues.add(400, 'required', `identifier needs the Study Instance UID (system ${SYSTEMS.dicomUid}, value urn:oid:…)`, 'identifier');
  else if (!uid || !DICOM_UID.test(uid) || uid.length > 64) issues.add(400, 'value', 'The Study Instance UID must be a DICOM UID (digits and dots, at most 64 characters)', `identifier[${position}].value`);
  const modality = codingInList(r.modality, SYSTEMS.dicomModality, issues, 'modality', { name: 'DICOM modality', valid: isDicomModality, required: true });
  const series = Array.isArray(r.series) && isObject(r.series[0]) ? r.series[0] : null;
  const bodySite = series?.bodySite ? codingInList([series.bodySite], SYSTEM.snomed, issues, 'series[0].bodySite', { name: 'SNOMED CT', valid: isSnomedCtId, shape: looksLikeSnomedCt }, true) : null;
  if (r.status !== undefined && !['registered', 'available', 'cancelled', 'entered-in-error', 'unknown'].includes(r.status)) issues.add(400, 'code-invalid', 'status is not an imagingstudy-status code', 'status');
  return {
    kind: 'imaging-study', owner: 'imaging', category: 'imaging', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
    record: {
      study_instance_uid: uid, modality: modality?.code, modality_display: modality?.display ?? null, body_site: bodySite?.code ?? null, body_site_display: bodySite?.display ?? null,
      description: r.description === undefined ? null : text(r.description, issues, 'description', { max: 1000 }),
      number_of_series: integer(r.numberOfSeries, issues, 'numberOfSeries', 0), number_of_instances: integer(r.numberOfInstances, issues, 'numberOfInstances', 0),
      started: instant(r.started, issues, 'started', true), sensitivity_labels: labelsOf(r, issues),
    },
  };
}

function mapImmunization(r: Json, context: BundleContext, issues: EntryIssues): Mapped {
  const status = text(r.status, issues, 'status', { required: true });
  if (status && !IMMUNIZATION_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an immunization-status code', 'status');
  const vaccine = withDisplay(codingOf(r.vaccineCode, SYSTEM.cvx, issues, 'vaccineCode', { name: 'CVX', valid: isCvxCode, required: true }));
  (Array.isArray(r.performer) ? r.performer : []).forEach((p: unknown, n: number) => ownOrganization(isObject(p) ? p.actor : undefined, context, issues, `performer[${n}].actor`, true));
  const protocol = Array.isArray(r.protocolApplied) && isObject(r.protocolApplied[0]) ? r.protocolApplied[0] : null;
  const dose = protocol?.doseNumberPositiveInt ?? (typeof protocol?.doseNumberString === 'string' && /^\d+$/.test(protocol.doseNumberString) ? Number(protocol.doseNumberString) : undefined);
  return {
    kind: 'immunization', owner: 'public-health', category: 'immunizations', refs: {}, patient: patientLink(r.patient, context, issues, 'patient'), patientElement: 'patient',
    record: {
      vaccine_code: vaccine?.code, vaccine_display: vaccine?.display, dose_number: integer(dose, issues, 'protocolApplied[0].doseNumberPositiveInt', 1),
      lot_number: r.lotNumber === undefined ? null : text(r.lotNumber, issues, 'lotNumber', { max: 100 }), occurrence: instant(r.occurrenceDateTime, issues, 'occurrenceDateTime', true),
      status, program: typeof protocol?.series === 'string' ? protocol.series : null, sensitivity_labels: labelsOf(r, issues),
    },
  };
}

function mapEpisodeOfCare(r: Json, context: BundleContext, issues: EntryIssues): Mapped {
  ownOrganization(r.managingOrganization, context, issues, 'managingOrganization');
  const status = text(r.status, issues, 'status', { required: true });
  if (status && !EPISODE_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an episode-of-care-status code', 'status');
  const program = codingOf(Array.isArray(r.type) ? r.type[0] : undefined, SYSTEMS.program, issues, 'type[0]', { name: 'programme', valid: (code) => /^[A-Z0-9-]{1,20}$/.test(code), required: true });
  return {
    kind: 'enrollment', owner: 'public-health', category: 'programs', refs: {}, patient: patientLink(r.patient, context, issues, 'patient'), patientElement: 'patient',
    record: {
      program: program?.code, status, period_start: instant(r.period?.start, issues, 'period.start', true), period_end: instant(r.period?.end, issues, 'period.end'),
      sensitivity_labels: labelsOf(r, issues),
    },
  };
}

const MAPPERS: Record<string, (r: Json, context: BundleContext, issues: EntryIssues, index: number) => Mapped> = {
  Patient: mapPatient, Encounter: mapEncounter, Condition: mapCondition, ServiceRequest: mapServiceRequest, Observation: mapObservation,
  DiagnosticReport: mapDiagnosticReport, ImagingStudy: mapImagingStudy, Immunization: mapImmunization, EpisodeOfCare: mapEpisodeOfCare,
};

/**
 * Maps every entry, collecting every issue. The entries come back in request
 * order, with DiagnosticReport.result turned into each result's link to its
 * report (the labs subgraph keeps the link on the result).
 */
export function mapEntries(
  items: { index: number; base: string; resource: unknown; request: EntryRequest }[],
  context: BundleContext,
  issues: Issue[],
): MappedEntry[] {
  const scopes = parseScopes(context.actor.scope);
  const mapped: (MappedEntry & { results?: EntryRef[] })[] = [];
  for (const item of items) {
    const entryIssues = new EntryIssues(issues, item.index, item.base);
    const before = issues.length;
    const resource = item.resource;
    if (!isObject(resource) || typeof resource.resourceType !== 'string') {
      entryIssues.add(400, 'structure', 'A FHIR resource (with resourceType) is required');
      continue;
    }
    const mapper = MAPPERS[resource.resourceType];
    if (!mapper) {
      entryIssues.add(400, 'not-supported', `${resource.resourceType} cannot be published here (supported: ${SUPPORTED_TYPES.join(', ')})`, 'resourceType');
      continue;
    }
    const result = mapper(resource, context, entryIssues, item.index);
    // The alliance's table of sensitive codes adds the labels the record's codes call for, on every way in.
    if (Array.isArray(result.record.sensitivity_labels)) result.record.sensitivity_labels = [...new Set([...result.record.sensitivity_labels, ...labelsForResource(resource)])];
    const op = item.request.method === 'PUT' ? 'update' : 'create';
    const interaction = op === 'update' ? 'update' : 'create';
    if (!scopesAllowWrite(scopes, interaction, resource.resourceType, result.category)) {
      entryIssues.add(403, 'forbidden', `The token's scopes do not allow ${interaction} of ${resource.resourceType}${resource.resourceType === 'DiagnosticReport' || resource.resourceType === 'Observation' ? ` (${result.category})` : ''}`);
    }
    if (op === 'update') {
      if (!item.request.id || !isUuidText(item.request.id)) entryIssues.add(400, 'invalid', 'An update names the record: PUT Type/{id}, a UUID', item.request.expression);
      else if (resource.id !== undefined && resource.id !== item.request.id) entryIssues.add(400, 'invalid', 'The resource id differs from the id in the URL', 'id');
    }
    const ifNoneExist = op === 'create' ? parseIfNoneExist(item.request.ifNoneExist, entryIssues, item.request.expression.replace(/\.url$/, '.ifNoneExist')) : null;
    const identifiers = identifiersOf(resource, entryIssues);
    if (issues.length > before || !result.patient) continue;
    const id = op === 'update' ? item.request.id!.toLowerCase() : randomUUID();
    mapped.push({
      index: item.index, path: item.base, resourceType: resource.resourceType, kind: result.kind, owner: result.owner, op, id, category: result.category,
      ifNoneExist, identifiers, record: result.record, refs: result.refs,
      patient: result.kind === 'patient' ? { entry: item.index } : result.patient, patientExpression: `${item.base}${result.patientElement ? `.${result.patientElement}` : ''}`,
      ...('results' in result ? { results: (result as { results: EntryRef[] }).results } : {}),
    });
  }
  // A report's results: each result gets the link to its report.
  const byIndex = new Map(mapped.map((m) => [m.index, m]));
  for (const report of mapped) {
    for (const ref of report.results ?? []) {
      if (!('entry' in ref)) continue;
      const result = byIndex.get(ref.entry);
      if (!result) continue;
      if (result.refs.report) {
        issues.push({ index: report.index, status: 400, code: 'invalid', message: 'This Observation is already the result of another report of this Bundle', expression: `${report.path}.result` });
        continue;
      }
      result.refs = { ...result.refs, report: { entry: report.index } };
    }
    delete report.results;
  }
  return mapped;
}
