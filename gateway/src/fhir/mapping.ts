/**
 * GraphQL results → FHIR R4 resources and the searchset Bundle.
 *
 * Principles (each resource builder follows them):
 * - Only what came back is exported. Records the subgraphs left out (consent
 *   at record level) are simply not there; fields withheld at field level
 *   (null with CONSENT_DENIED/FORBIDDEN, see Masks) are omitted. Where FHIR
 *   requires the element, it carries the `masked` data-absent-reason instead
 *   (Observation.dataAbsentReason, or the data-absent-reason extension on a
 *   required CodeableConcept); when a required primitive (a status) is missing
 *   the resource is left out, since it cannot be valid without it. A resource
 *   that lost elements this way is marked REDACTED in meta.security.
 * - Links between patient records point only at resources in this bundle: a
 *   link to a record the actor may not see (an encounter elsewhere, a report
 *   withheld) is dropped, so ids of hidden records never leak through links.
 *   Organisations and practitioners are referenced with their display name
 *   and, for wildcard tokens (plan.ts), included as `include` entries.
 * - Sensitivity labels travel as meta.security (terminology.ts), so a receiver
 *   can keep protecting labelled records.
 * - Codes the subgraphs return as Codings (LOINC, ICD-10, CVX, DICOM, SNOMED
 *   CT) pass through; enum values are mapped to their FHIR code systems.
 */
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { Collected, Masks } from './collect.js';
import type { ExportPlan } from './plan.js';
import type {
  GqlCoding, GqlCondition, GqlDiagnosticReport, GqlEncounter, GqlEnrollment, GqlFollowUpTask, GqlHomeMeasurement, GqlHumanName,
  GqlImagingStudy, GqlImmunization, GqlObservation, GqlOrganization, GqlPatient, GqlPractitioner, GqlReferral,
} from './graphql-types.js';
import { operationOutcome, type OperationOutcome } from './outcome.js';
import {
  BLOOD_PRESSURE_COMPONENTS, ENCOUNTER_CLASS, ENCOUNTER_STATUS, EPISODE_STATUS, IMAGING_REPORT_CODE, IMMUNIZATION_STATUS, MASKED_REASON,
  maskedExtension, OBSERVATION_STATUS, PERFORMER_TYPE, REDACTED, REFERRAL_CATEGORY, REFERRAL_STATUS, REPORT_CATEGORY, REPORT_STATUS,
  securityLabels, SYSTEMS, TASK_STATUS, type FhirCoding,
} from './terminology.js';

export type Resource = { resourceType: string; id?: string } & Record<string, unknown>;

export interface BundleEntry {
  fullUrl: string;
  resource: Resource;
  search: { mode: 'match' | 'include' | 'outcome' };
}

export interface Bundle {
  resourceType: 'Bundle';
  id: string;
  meta: { lastUpdated: string };
  type: 'searchset';
  timestamp: string;
  total: number;
  link: { relation: string; url: string }[];
  entry: BundleEntry[];
}

/**
 * Removes what FHIR JSON forbids: null, undefined, empty strings, empty
 * arrays and empty objects (every element must have a value or children).
 */
export function prune<T>(value: T): T {
  if (Array.isArray(value)) {
    return value.map(prune).filter((v) => !isEmpty(v)) as unknown as T;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const pruned = prune(v);
      if (!isEmpty(pruned)) out[key] = pruned;
    }
    return out as T;
  }
  return value;
}

function isEmpty(value: unknown): boolean {
  if (value === null || value === undefined || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

const coding = (c: GqlCoding | FhirCoding): FhirCoding => ({ system: c.system, code: c.code, ...(c.display ? { display: c.display } : {}) });
const concept = (c: GqlCoding | FhirCoding | null | undefined) => (c ? { coding: [coding(c)], ...(c.display ? { text: c.display } : {}) } : undefined);
const ucum = (value: number, unit: string | null | undefined) => ({ value, ...(unit ? { unit, system: SYSTEMS.ucum, code: unit } : {}) });
const humanName = (name: GqlHumanName) => ({ use: name.use ?? undefined, family: name.family, given: name.given, text: name.text });

/** Builds every resource of one export; keeps the registry entries its references need. */
class BundleBuilder {
  private readonly entries: BundleEntry[] = [];
  private readonly organizations = new Map<string, GqlOrganization>();
  private readonly practitioners = new Map<string, GqlPractitioner>();
  /** ids per resource type in the bundle, to keep references inside it. */
  private readonly present = new Map<string, Set<string>>();
  /** A record or element was left out because consent withheld it. */
  withheld: boolean;
  private readonly masks: Masks;

  constructor(private readonly base: string, private readonly data: Collected, private readonly plan: ExportPlan) {
    this.masks = data.masks;
    this.withheld = data.withheld;
  }

  private get patientRef() {
    return { reference: `Patient/${this.data.patient.id}` };
  }

  private org(o: GqlOrganization | null | undefined) {
    if (!o) return undefined;
    if (!this.organizations.has(o.id)) this.organizations.set(o.id, o);
    return { reference: `Organization/${o.id}`, ...(o.name ? { display: o.name } : {}) };
  }

  private practitioner(p: GqlPractitioner | null | undefined) {
    if (!p) return undefined;
    if (!this.practitioners.has(p.id)) this.practitioners.set(p.id, p);
    return { reference: `Practitioner/${p.id}`, ...(p.name?.text ? { display: p.name.text } : {}) };
  }

  /** A reference only if the target is in the bundle. */
  private link(type: string, id: string | null | undefined) {
    return id && this.present.get(type)?.has(id) ? { reference: `${type}/${id}` } : undefined;
  }

  private meta(node: object | null | undefined, labels: readonly string[] | null | undefined, ...alsoMasked: (object | null | undefined)[]) {
    const redacted = this.masks.any(node) || alsoMasked.some((o) => this.masks.any(o));
    const security = [...securityLabels(labels ?? []), ...(redacted ? [REDACTED] : [])];
    return security.length ? { security } : undefined;
  }

  /** A required CodeableConcept: the code, or `masked` if consent withheld it; undefined if simply absent. */
  private requiredConcept(node: object, field: string, value: GqlCoding | null | undefined) {
    if (value) return concept(value);
    return this.masks.has(node, field) ? maskedExtension() : undefined;
  }

  private add(resource: Resource, mode: BundleEntry['search']['mode'] = 'match'): void {
    const pruned = prune(resource);
    this.entries.push({ fullUrl: `${this.base}/${pruned.resourceType}/${pruned.id}`, resource: pruned, search: { mode } });
    const ids = this.present.get(pruned.resourceType) ?? new Set<string>();
    ids.add(pruned.id!);
    this.present.set(pruned.resourceType, ids);
  }

  /** Leaves a record out because a required element is missing (only ever because it was withheld). */
  private skip(): void {
    this.withheld = true;
  }

  build(): BundleEntry[] {
    const { patient, nodes } = this.data;
    if (this.plan.patient) this.add(this.patient(patient));
    // Order matters only for links: targets are added before the resources pointing at them.
    for (const node of nodes.encounters) this.encounterOrSkip(node);
    for (const node of nodes.conditions) this.conditionOrSkip(node);
    this.linkDiagnoses(nodes.conditions);
    for (const node of nodes.referrals) this.referralOrSkip(node);
    for (const node of nodes.observations) this.observationOrSkip(node);
    for (const node of nodes.homeMeasurements) this.homeMeasurementOrSkip(node);
    for (const node of nodes.diagnosticReports) this.diagnosticReportOrSkip(node, nodes.observations);
    for (const node of nodes.imagingStudies) this.imagingStudyOrSkip(node);
    for (const node of nodes.immunizations) this.immunizationOrSkip(node);
    for (const node of nodes.programEnrollments) this.enrollmentOrSkip(node);
    for (const node of nodes.followUpTasks) this.taskOrSkip(node, nodes.programEnrollments);
    if (this.plan.registry) {
      // Whether the registry still holds the entry as active (records keep naming deactivated ones).
      for (const o of this.organizations.values()) this.add({ resourceType: 'Organization', id: o.id, active: o.active !== false, name: o.name }, 'include');
      for (const p of this.practitioners.values()) {
        this.add({ resourceType: 'Practitioner', id: p.id, ...(typeof p.active === 'boolean' ? { active: p.active } : {}), name: p.name ? [humanName(p.name)] : undefined }, 'include');
      }
    }
    return this.entries;
  }

  private patient(p: GqlPatient): Resource {
    return {
      resourceType: 'Patient',
      id: p.id,
      meta: this.meta(p, []),
      identifier: (p.identifiers ?? []).map((i) => ({
        use: i.type === 'MR' ? 'usual' : 'official',
        type: { coding: [i.type === 'MR'
          ? { system: SYSTEMS.identifierType, code: 'MR', display: 'Medical record number' }
          : { system: SYSTEMS.identifierType, code: 'HC', display: 'Health Card Number' }] },
        system: i.system,
        value: i.value,
        assigner: this.org(i.assigner),
      })),
      name: (p.name ?? []).map(humanName),
      telecom: (p.telecom ?? []).map((t) => ({ system: t.system, value: t.value, use: t.use })),
      gender: p.gender ? p.gender.toLowerCase() : undefined,
      birthDate: p.birthDate,
      address: (p.address ?? []).map((a) => ({ line: a.line, city: a.city, postalCode: a.postalCode, country: a.country })),
    };
  }

  private encounterOrSkip(e: GqlEncounter): void {
    const klass = e.class ? ENCOUNTER_CLASS[e.class] : undefined;
    if (!e.status || !(klass || this.masks.has(e, 'class'))) return this.skip();
    this.add({
      resourceType: 'Encounter',
      id: e.id,
      meta: this.meta(e, e.sensitivityLabels),
      status: ENCOUNTER_STATUS.has(e.status) ? e.status : 'unknown',
      class: klass ? { system: SYSTEMS.actCode, code: klass.code, display: klass.display } : maskedExtension(),
      subject: this.patientRef,
      participant: e.practitioner ? [{ individual: this.practitioner(e.practitioner) }] : undefined,
      period: e.period ? { start: e.period.start, end: e.period.end } : undefined,
      reasonCode: e.reason ? [concept(e.reason)] : undefined,
      serviceProvider: this.org(e.organization),
    });
  }

  private conditionOrSkip(c: GqlCondition): void {
    this.add({
      resourceType: 'Condition',
      id: c.id,
      meta: this.meta(c, c.sensitivityLabels),
      clinicalStatus: c.clinicalStatus ? { coding: [{ system: SYSTEMS.conditionClinical, code: c.clinicalStatus }] } : undefined,
      category: [{ coding: [{ system: SYSTEMS.conditionCategory, code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
      code: concept(c.code),
      subject: this.patientRef,
      encounter: this.link('Encounter', c.encounter?.id),
      recordedDate: c.recordedDate,
    });
  }

  /** Encounter.diagnosis, from the conditions' own encounter links (both ends in the bundle). */
  private linkDiagnoses(conditions: GqlCondition[]): void {
    for (const entry of this.entries) {
      if (entry.resource.resourceType !== 'Encounter') continue;
      const diagnosis = conditions
        .filter((c) => c.encounter?.id === entry.resource.id && this.present.get('Condition')?.has(c.id))
        .map((c) => ({ condition: { reference: `Condition/${c.id}` } }));
      if (diagnosis.length) entry.resource.diagnosis = diagnosis;
    }
  }

  private referralOrSkip(r: GqlReferral): void {
    if (!r.status || !REFERRAL_STATUS[r.status]) return this.skip();
    this.add({
      resourceType: 'ServiceRequest',
      id: r.id,
      meta: this.meta(r, r.sensitivityLabels),
      status: REFERRAL_STATUS[r.status],
      intent: 'order',
      category: [{ coding: [REFERRAL_CATEGORY], text: REFERRAL_CATEGORY.display }],
      subject: this.patientRef,
      occurrenceDateTime: r.appointmentTime,
      authoredOn: r.authoredOn,
      // The referring organisation: referrals are between organisations in this product.
      requester: this.org(r.requester),
      performer: r.performer ? [this.org(r.performer)] : undefined,
      reasonCode: r.reason ? [concept(r.reason)] : undefined,
      note: r.note ? [{ text: r.note }] : undefined,
    });
  }

  private observationOrSkip(o: GqlObservation): void {
    const code = this.requiredConcept(o, 'code', o.code);
    if (!o.status || !code) return this.skip();
    const hasValue = Boolean(o.valueQuantity || o.valueString);
    const valueMasked = !hasValue && (this.masks.has(o, 'valueQuantity') || this.masks.has(o, 'valueString'));
    const range = o.referenceRange;
    this.add({
      resourceType: 'Observation',
      id: o.id,
      meta: this.meta(o, o.sensitivityLabels),
      status: OBSERVATION_STATUS.has(o.status) ? o.status : 'unknown',
      category: [{ coding: [{ system: SYSTEMS.observationCategory, code: o.category ?? 'laboratory', display: o.category === 'vital-signs' ? 'Vital Signs' : 'Laboratory' }] }],
      code,
      subject: this.patientRef,
      effectiveDateTime: o.effectiveDateTime,
      issued: o.issued,
      performer: o.organization ? [this.org(o.organization)] : undefined,
      valueQuantity: o.valueQuantity ? ucum(o.valueQuantity.value, o.valueQuantity.unit) : undefined,
      valueString: o.valueQuantity ? undefined : o.valueString,
      // Observation has its own element for "why is there no value" (obs-6: only without a value).
      dataAbsentReason: valueMasked ? MASKED_REASON : undefined,
      interpretation: o.interpretation ? [concept(o.interpretation)] : undefined,
      referenceRange: range && (range.low !== null || range.high !== null || range.text)
        ? [{
          low: range.low !== null ? ucum(range.low, range.unit) : undefined,
          high: range.high !== null ? ucum(range.high, range.unit) : undefined,
          text: range.text,
        }]
        : undefined,
    });
  }

  /** A home measurement is an Observation of category vital-signs; blood pressure is a two-component panel. */
  private homeMeasurementOrSkip(m: GqlHomeMeasurement): void {
    const code = this.requiredConcept(m, 'code', m.code);
    if (!code) return this.skip();
    const bloodPressure = m.kind === 'BLOOD_PRESSURE';
    const component = (which: 'systolic' | 'diastolic') => {
      const value = m[which];
      return {
        code: { coding: [BLOOD_PRESSURE_COMPONENTS[which]], text: BLOOD_PRESSURE_COMPONENTS[which].display },
        valueQuantity: value !== null ? ucum(value, m.unit) : undefined,
        dataAbsentReason: value === null && this.masks.has(m, which) ? MASKED_REASON : undefined,
      };
    };
    this.add({
      resourceType: 'Observation',
      id: m.id,
      meta: this.meta(m, m.sensitivityLabels),
      status: 'final',
      category: [{ coding: [{ system: SYSTEMS.observationCategory, code: 'vital-signs', display: 'Vital Signs' }] }],
      code,
      subject: this.patientRef,
      effectiveDateTime: m.effectiveDateTime,
      // The patient took the reading (themselves or through an app acting for them).
      performer: [this.patientRef],
      valueQuantity: !bloodPressure && m.value !== null ? ucum(m.value, m.unit) : undefined,
      dataAbsentReason: !bloodPressure && m.value === null && this.masks.has(m, 'value') ? MASKED_REASON : undefined,
      component: bloodPressure ? [component('systolic'), component('diastolic')] : undefined,
      note: m.fasting ? [{ text: 'Fasting' }] : undefined,
    });
  }

  private diagnosticReportOrSkip(r: GqlDiagnosticReport, observations: GqlObservation[]): void {
    const code = this.requiredConcept(r, 'code', r.code);
    const category = r.category ? REPORT_CATEGORY[r.category] : undefined;
    if (!r.status || !code) return this.skip();
    this.add({
      resourceType: 'DiagnosticReport',
      id: r.id,
      meta: this.meta(r, r.sensitivityLabels),
      status: REPORT_STATUS.has(r.status) ? r.status : 'unknown',
      category: category ? [{ coding: [{ system: SYSTEMS.diagnosticServiceSection, code: category.code, display: category.display }] }] : undefined,
      code,
      subject: this.patientRef,
      effectiveDateTime: r.effectiveDateTime,
      issued: r.issued,
      performer: [this.practitioner(r.performer), this.org(r.organization)],
      // Only results in this bundle (observations carry the link to their report).
      result: observations.filter((o) => o.report?.id === r.id).map((o) => this.link('Observation', o.id)),
      conclusion: r.conclusion,
    });
  }

  private imagingStudyOrSkip(s: GqlImagingStudy): void {
    const report = s.report;
    this.add({
      resourceType: 'ImagingStudy',
      id: s.id,
      meta: this.meta(s, s.sensitivityLabels),
      // The Study Instance UID is an OID: FHIR writes it urn:oid:… under the urn:dicom:uid system.
      identifier: s.studyInstanceUid ? [{ system: SYSTEMS.dicomUid, value: `urn:oid:${s.studyInstanceUid}` }] : undefined,
      status: 'available',
      modality: s.modality ? [coding(s.modality)] : undefined,
      subject: this.patientRef,
      started: s.started,
      interpreter: report?.radiologist ? [this.practitioner(report.radiologist)] : undefined,
      numberOfSeries: s.numberOfSeries,
      numberOfInstances: s.numberOfInstances,
      // R4 carries the body site only per series (ImagingStudy.series.bodySite),
      // and a series needs its own DICOM UID, which the product does not hold;
      // inventing one would be worse than leaving the site to the description.
      description: s.description ?? (s.bodySite?.display ? `${s.modality?.code ?? 'Imaging'} ${s.bodySite.display}` : undefined),
    });
    // The radiology report: a DiagnosticReport (RAD) of its own, only when
    // consent let it through (imaging-reports is a category of its own).
    if (report && report.status && report.impression !== null) {
      this.add({
        resourceType: 'DiagnosticReport',
        id: report.id,
        meta: this.meta(report, report.sensitivityLabels),
        status: REPORT_STATUS.has(report.status) ? report.status : 'unknown',
        category: [{ coding: [{ system: SYSTEMS.diagnosticServiceSection, code: REPORT_CATEGORY.RAD!.code, display: REPORT_CATEGORY.RAD!.display }] }],
        code: concept(IMAGING_REPORT_CODE),
        subject: this.patientRef,
        effectiveDateTime: s.started,
        issued: report.issued,
        performer: [this.org(s.organization)],
        resultsInterpreter: [this.practitioner(report.radiologist)],
        imagingStudy: [{ reference: `ImagingStudy/${s.id}` }],
        conclusion: report.impression,
        presentedForm: report.findings ? [{ contentType: 'text/plain', title: 'Findings', data: Buffer.from(report.findings, 'utf8').toString('base64') }] : undefined,
      });
    } else if (this.masks.has(s, 'report')) {
      this.withheld = true;
    }
  }

  private immunizationOrSkip(i: GqlImmunization): void {
    const vaccineCode = this.requiredConcept(i, 'vaccineCode', i.vaccineCode);
    if (!i.status || !IMMUNIZATION_STATUS.has(i.status) || !vaccineCode || !i.occurrenceDateTime) return this.skip();
    this.add({
      resourceType: 'Immunization',
      id: i.id,
      meta: this.meta(i, i.sensitivityLabels),
      status: i.status,
      vaccineCode,
      patient: this.patientRef,
      occurrenceDateTime: i.occurrenceDateTime,
      // Recorded by the organisation that gave the dose.
      primarySource: true,
      lotNumber: i.lotNumber,
      performer: i.organization ? [{ actor: this.org(i.organization) }] : undefined,
      protocolApplied: i.doseNumber !== null
        ? [{ series: i.program?.name, ...(i.doseNumber >= 1 ? { doseNumberPositiveInt: i.doseNumber } : { doseNumberString: String(i.doseNumber) }) }]
        : undefined,
    });
  }

  private enrollmentOrSkip(e: GqlEnrollment): void {
    if (!e.status || !EPISODE_STATUS.has(e.status)) return this.skip();
    this.add({
      resourceType: 'EpisodeOfCare',
      id: e.id,
      meta: this.meta(e, e.sensitivityLabels),
      status: e.status,
      type: e.program ? [{ coding: [{ system: SYSTEMS.program, code: e.program.code, display: e.program.name }], text: e.program.name }] : undefined,
      patient: this.patientRef,
      managingOrganization: this.org(e.organization),
      period: e.period ? { start: e.period.start, end: e.period.end } : undefined,
    });
  }

  private taskOrSkip(t: GqlFollowUpTask, enrollments: GqlEnrollment[]): void {
    const status = t.status ? TASK_STATUS[t.status] : undefined;
    if (!status) return this.skip();
    const performerType = t.assignedRole ? PERFORMER_TYPE[t.assignedRole] : undefined;
    const enrollment = t.program ? enrollments.find((e) => e.program?.id === t.program!.id) : undefined;
    this.add({
      resourceType: 'Task',
      id: t.id,
      meta: this.meta(t, t.sensitivityLabels),
      status,
      intent: 'order',
      description: t.description,
      for: this.patientRef,
      authoredOn: t.authoredOn,
      // The due date: FHIR Task expresses "complete by" as restriction.period.end.
      restriction: t.dueDate ? { period: { end: t.dueDate } } : undefined,
      owner: this.org(t.organization),
      performerType: performerType ? [{ coding: [{ system: SYSTEMS.practitionerRole, code: performerType.code, display: performerType.display }] }] : undefined,
      reasonCode: t.ruleCode ? { coding: [{ system: SYSTEMS.programRule, code: t.ruleCode }] } : undefined,
      // The programme enrolment the task serves, when it is in the bundle.
      reasonReference: this.link('EpisodeOfCare', enrollment?.id),
    });
  }
}

export interface BundleOptions {
  /** The export's request id: the bundle's id and the audit events' requestId. */
  requestId: string;
  /** Absolute base of the FHIR endpoint, e.g. https://gateway.example.org/fhir. */
  base: string;
  plan: ExportPlan;
  now?: Date;
}

export function toBundle(data: Collected, options: BundleOptions): Bundle {
  const builder = new BundleBuilder(options.base, data, options.plan);
  const entries = builder.build();
  const now = (options.now ?? new Date()).toISOString();
  const outcomes: OperationOutcome[] = [];
  if (data.emergencyAccess) {
    outcomes.push(operationOutcome('warning', 'informational', `Emergency access (break-glass): ${data.emergencyAccess.notice ?? 'recorded and flagged for review'}`));
  }
  // Says that something was withheld, never what or how much.
  if (builder.withheld) outcomes.push(operationOutcome('information', 'suppressed', 'Some information was withheld under the patient\'s consent or the token\'s scopes'));
  const total = entries.filter((e) => e.search.mode === 'match').length;
  return {
    resourceType: 'Bundle',
    id: options.requestId,
    meta: { lastUpdated: now },
    type: 'searchset',
    timestamp: now,
    total,
    link: [{ relation: 'self', url: `${options.base}/Patient/${data.patient.id}/$everything` }],
    entry: [
      ...entries,
      ...outcomes.map((resource) => ({ fullUrl: `urn:uuid:${randomUUID()}`, resource: resource as unknown as Resource, search: { mode: 'outcome' as const } })),
    ],
  };
}
