/**
 * Generated patients (lib/synthetic/generator.ts) as the institutions that
 * produced their records would publish them: one FHIR R4 `transaction`
 * Bundle per patient and producing organisation, with the Patient (the
 * health card and that organisation's medical record number), POST entries
 * made conditional (`ifNoneExist`) on the institution's own record ids, and
 * `urn:uuid:` references between entries. The shapes are the export's
 * (gateway/src/fhir/mapping.ts), so what is published exports back the same.
 *
 * Used by the ingestion benchmark (scripts/bench-ingest.ts). Patient-generated
 * data (home measurements) and rule-generated tasks are not an institution's
 * publications and are left out.
 */
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { clinicalObservationCategory, type PatientBundle } from './generator.js';
import { PROGRAMS } from './registry.js';
import { SYSTEM } from '../records/terminology.js';

type Json = Record<string, any>;

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const CONFIDENTIALITY = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
const V2_0074 = 'http://terminology.hl7.org/CodeSystem/v2-0074';
const PROGRAM_SYSTEM = 'https://fhir.alliance.example.org/CodeSystem/program';
const CLASS_DISPLAY: Record<string, string> = { AMB: 'ambulatory', IMP: 'inpatient encounter', EMER: 'emergency', VR: 'virtual' };
const REPORT_SECTION: Record<string, string> = { LAB: 'LAB', ECG: 'EC', PATHOLOGY: 'PAT' };

/** The system of an institution's own record ids (its business identifiers). */
export const recordIdSystem = (organizationId: string) => `https://fhir.alliance.example.org/sid/record/${organizationId}`;

const security = (labels: readonly string[]) => (labels.length
  ? { security: labels.map((label) => (label === 'V' ? { system: CONFIDENTIALITY, code: 'V' } : { system: ACT_CODE, code: label })) }
  : undefined);

/** A value without its null elements (FHIR JSON has none). */
function compact<T>(value: T): T {
  if (Array.isArray(value)) return value.map(compact) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined).map(([k, v]) => [k, compact(v)])) as T;
  return value;
}

/** One transaction Bundle per organisation that produced records of the patient (and registered them). */
export function institutionBundles(patient: PatientBundle): { organizationId: string; bundle: Json; resources: number }[] {
  const p = patient.patient;
  const byOrg = new Map<string, Json[]>();
  const entries = (org: string) => {
    if (!byOrg.has(org)) byOrg.set(org, []);
    return byOrg.get(org)!;
  };
  const post = (org: string, resourceType: string, localId: string, resource: Json) => {
    const identifier = { system: recordIdSystem(org), value: localId };
    entries(org).push({
      fullUrl: `urn:uuid:${localId}`,
      resource: { resourceType, ...resource, identifier: [...(resource.identifier ?? []), identifier] },
      request: { method: 'POST', url: resourceType, ifNoneExist: `identifier=${identifier.system}|${identifier.value}` },
    });
  };
  const patientUrls = new Map<string, string>();
  const patientUrl = (org: string) => {
    if (!patientUrls.has(org)) patientUrls.set(org, `urn:uuid:${randomUUID()}`);
    return patientUrls.get(org)!;
  };
  const subject = (org: string) => ({ reference: patientUrl(org) });

  for (const e of patient.encounters) {
    post(e.organizationId, 'Encounter', e.id, {
      meta: security(e.sensitivityLabels), status: e.status, class: { system: ACT_CODE, code: e.class, display: CLASS_DISPLAY[e.class] },
      subject: subject(e.organizationId), participant: [{ individual: { reference: `Practitioner/${e.practitionerId}` } }],
      period: { start: e.periodStart.toISOString(), ...(e.periodEnd ? { end: e.periodEnd.toISOString() } : {}) },
      reasonCode: [{ coding: [{ system: SYSTEM.icd10, code: e.reasonCode, display: e.reasonDisplay }] }],
      serviceProvider: { reference: `Organization/${e.organizationId}` },
    });
  }
  for (const c of patient.conditions) {
    post(c.organizationId, 'Condition', c.id, {
      meta: security(c.sensitivityLabels), clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: c.clinicalStatus }] },
      code: { coding: [{ system: SYSTEM.icd10, code: c.code, display: c.display }] }, subject: subject(c.organizationId),
      encounter: { reference: `urn:uuid:${c.encounterId}` }, recordedDate: c.recordedDate.toISOString(),
    });
  }
  // Clinical observations (vital signs, smoking status): category, codes and values as the clinic's system sends them.
  for (const o of patient.clinicalObservations) {
    const concept = (c: { coding: { system: string; code: string; display: string | null }[]; text: string | null }) => ({
      coding: c.coding.map((x) => ({ system: x.system, code: x.code, ...(x.display ? { display: x.display } : {}) })), ...(c.text ? { text: c.text } : {}),
    });
    const value = (v: { quantity: Json } | { codeableConcept: Json } | null) => (!v ? {} : 'quantity' in v ? { valueQuantity: v.quantity } : { valueCodeableConcept: concept(v.codeableConcept as never) });
    post(o.organizationId, 'Observation', o.id, {
      meta: security(o.sensitivityLabels), status: o.status, category: [concept(clinicalObservationCategory(o))], code: concept(o.code), subject: subject(o.organizationId),
      effectiveDateTime: o.effective.toISOString(), ...value(o.value),
      ...(o.components ? { component: o.components.map((c) => ({ code: concept(c.code), ...value(c.value) })) } : {}),
    });
  }
  for (const n of patient.clinicalNotes) {
    const concept = (c: { coding: { system: string; code: string; display: string | null }[]; text: string | null }) => ({
      coding: c.coding.map((x) => ({ system: x.system, code: x.code, ...(x.display ? { display: x.display } : {}) })), ...(c.text ? { text: c.text } : {}),
    });
    const attachment = { contentType: 'text/plain; charset=utf-8', data: Buffer.from(n.text, 'utf8').toString('base64') };
    // A note as the EHR sends it: a DocumentReference (clinical-note), or a DiagnosticReport whose category is its LOINC note code.
    post(n.organizationId, n.resourceType, n.id, n.resourceType === 'DocumentReference' ? {
      meta: security(n.sensitivityLabels), status: n.status, type: concept(n.type), category: n.categories.map(concept), subject: subject(n.organizationId),
      date: n.date.toISOString(), author: [{ reference: `Practitioner/${n.authorId}` }], custodian: { reference: `Organization/${n.organizationId}` },
      ...(n.description ? { description: n.description } : {}), content: [{ attachment }],
    } : {
      meta: security(n.sensitivityLabels), status: n.status, category: n.categories.map(concept), code: concept(n.type), subject: subject(n.organizationId),
      effectiveDateTime: n.date.toISOString(), issued: n.date.toISOString(), performer: [{ reference: `Practitioner/${n.authorId}` }, { reference: `Organization/${n.organizationId}` }],
      presentedForm: [attachment],
    });
  }
  for (const a of patient.allergies) {
    const concept = (c: { coding: { system: string; code: string; display: string | null }[]; text: string | null }) => ({
      coding: c.coding.map((x) => ({ system: x.system, code: x.code, ...(x.display ? { display: x.display } : {}) })), ...(c.text ? { text: c.text } : {}),
    });
    post(a.organizationId, 'AllergyIntolerance', a.id, {
      meta: security(a.sensitivityLabels),
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: a.clinicalStatus }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: a.verificationStatus }] },
      type: a.type, category: a.categories, criticality: a.criticality, code: concept(a.code), patient: subject(a.organizationId),
      ...(a.onsetDateTime ? { onsetDateTime: a.onsetDateTime.toISOString() } : { onsetString: a.onsetString }),
      recordedDate: a.recordedDate.toISOString(), recorder: { reference: `Practitioner/${a.recorderId}` },
      reaction: a.reactions.map((r) => ({
        ...(r.substance ? { substance: concept(r.substance) } : {}), manifestation: r.manifestations.map(concept), severity: r.severity,
        ...(r.onset ? { onset: r.onset.toISOString() } : {}), ...(r.description ? { description: r.description } : {}),
      })),
    });
  }
  for (const x of patient.procedures) {
    const concept = (c: { coding: { system: string; code: string; display: string | null }[]; text: string | null }) => ({
      coding: c.coding.map((k) => ({ system: k.system, code: k.code, ...(k.display ? { display: k.display } : {}) })), ...(c.text ? { text: c.text } : {}),
    });
    const reference = (ref: { reference: string | null; type: string | null; identifier: { system: string | null; value: string | null } | null; display: string | null }) => ({
      ...(ref.reference ? { reference: ref.reference } : {}), ...(ref.type ? { type: ref.type } : {}),
      ...(ref.identifier ? { identifier: { system: ref.identifier.system, value: ref.identifier.value } } : {}), ...(ref.display ? { display: ref.display } : {}),
    });
    post(x.organizationId, 'Procedure', x.id, {
      meta: security(x.sensitivityLabels), status: x.status, code: concept(x.code), subject: subject(x.organizationId),
      encounter: { reference: `urn:uuid:${x.encounterId}` },
      ...(x.performedPeriod ? { performedPeriod: { start: x.performedPeriod.start.toISOString(), end: x.performedPeriod.end.toISOString() } } : { performedDateTime: x.performedAt.toISOString() }),
      performer: x.performers.map((f) => ({ ...(f.function ? { function: concept(f.function) } : {}), actor: reference(f.actor) })),
      ...(x.location ? { location: reference(x.location) } : {}),
      reasonCode: x.reasonCodes.map(concept),
      ...(x.reasonConditionId ? { reasonReference: [{ reference: `urn:uuid:${x.reasonConditionId}` }] } : {}),
      ...(x.bodySites.length ? { bodySite: x.bodySites.map(concept) } : {}),
      ...(x.outcome ? { outcome: concept(x.outcome) } : {}),
    });
  }
  for (const t of patient.careTeams) {
    const concept = (c: { coding: { system: string; code: string; display: string | null }[]; text: string | null }) => ({
      coding: c.coding.map((k) => ({ system: k.system, code: k.code, ...(k.display ? { display: k.display } : {}) })), ...(c.text ? { text: c.text } : {}),
    });
    const reference = (ref: { reference: string | null; type: string | null; identifier: { system: string | null; value: string | null } | null; display: string | null }) => ({
      ...(ref.reference ? { reference: ref.reference } : {}), ...(ref.type ? { type: ref.type } : {}),
      ...(ref.identifier ? { identifier: { system: ref.identifier.system, value: ref.identifier.value } } : {}), ...(ref.display ? { display: ref.display } : {}),
    });
    post(t.organizationId, 'CareTeam', t.id, {
      meta: security(t.sensitivityLabels), status: t.status, subject: subject(t.organizationId),
      period: { start: t.periodStart.toISOString(), ...(t.periodEnd ? { end: t.periodEnd.toISOString() } : {}) },
      participant: t.participants.map((p) => ({ role: p.role.map(concept), member: reference(p.member) })),
      reasonCode: t.reasonCodes.map(concept), ...(t.managedByProducer ? { managingOrganization: [{ reference: `Organization/${t.organizationId}` }] } : {}),
    });
    for (const c of patient.carePlans.filter((plan) => plan.careTeamId === t.id)) {
      // The diagnoses it addresses: entries of the same institution's Bundle.
      const addresses = c.addressesConditionIds.filter((id) => patient.conditions.some((x) => x.id === id && x.organizationId === c.organizationId));
      post(c.organizationId, 'CarePlan', c.id, {
        ...(addresses.length ? { addresses: addresses.map((id) => ({ reference: `urn:uuid:${id}` })) } : {}),
        meta: security(c.sensitivityLabels), status: c.status, intent: c.intent, category: c.categories.map(concept), subject: subject(c.organizationId),
        period: { start: c.periodStart.toISOString(), ...(c.periodEnd ? { end: c.periodEnd.toISOString() } : {}) },
        careTeam: [{ reference: `urn:uuid:${t.id}` }],
        activity: c.activities.map((a) => ({ detail: { ...(a.code ? { code: concept(a.code) } : {}), status: a.status, ...(a.location ? { location: reference(a.location) } : {}) } })),
      });
    }
  }
  for (const r of patient.referrals) {
    post(r.requesterOrganizationId, 'ServiceRequest', r.id, {
      status: ({ requested: 'active', accepted: 'active', completed: 'completed', declined: 'revoked', cancelled: 'revoked' } as Record<string, string>)[r.status],
      intent: 'order', subject: subject(r.requesterOrganizationId), authoredOn: r.authoredOn.toISOString(),
      ...(r.appointmentTime ? { occurrenceDateTime: r.appointmentTime.toISOString() } : {}),
      requester: { reference: `Organization/${r.requesterOrganizationId}` }, performer: [{ reference: `Organization/${r.performerOrganizationId}` }],
      reasonCode: [{ coding: [{ system: SYSTEM.icd10, code: r.reasonCode, display: r.reasonDisplay }] }], note: [{ text: r.note }],
    });
  }
  // Medications, as the FHIR export gives them (nulls of the kept shapes left out).
  const medicationConcept = (c: { coding: { system: string; code: string; display: string | null }[]; text: string | null }) => compact(c);
  for (const m of patient.medicationRequests) {
    post(m.organizationId, 'MedicationRequest', m.id, {
      meta: security(m.sensitivityLabels), status: m.status, intent: m.intent, medicationCodeableConcept: medicationConcept(m.medication), subject: subject(m.organizationId),
      ...(m.encounterId ? { encounter: { reference: `urn:uuid:${m.encounterId}` } } : {}), authoredOn: m.authoredOn.toISOString(),
      requester: { reference: `Practitioner/${m.requesterId}` }, ...(m.reasonConditionId ? { reasonReference: [{ reference: `urn:uuid:${m.reasonConditionId}` }] } : {}),
      dosageInstruction: compact(m.dosageInstruction),
    });
  }
  for (const m of patient.medicationAdministrations) {
    post(m.organizationId, 'MedicationAdministration', m.id, {
      meta: security(m.sensitivityLabels), status: m.status, medicationCodeableConcept: medicationConcept(m.medication), subject: subject(m.organizationId),
      context: { reference: `urn:uuid:${m.encounterId}` }, effectiveDateTime: m.effectiveDateTime.toISOString(),
      performer: [{ actor: { reference: `Practitioner/${m.performerId}` } }], request: { reference: `urn:uuid:${m.requestId}` }, dosage: compact(m.dosage),
    });
  }
  for (const m of patient.medicationStatements) {
    post(m.organizationId, 'MedicationStatement', m.id, {
      meta: security(m.sensitivityLabels), status: m.status, medicationCodeableConcept: medicationConcept(m.medication), subject: subject(m.organizationId),
      effectivePeriod: { start: m.effectiveStart.toISOString(), ...(m.effectiveEnd ? { end: m.effectiveEnd.toISOString() } : {}) }, dateAsserted: m.dateAsserted.toISOString(),
      informationSource: { reference: `Practitioner/${m.informationSourceId}` }, ...(m.reasonConditionId ? { reasonReference: [{ reference: `urn:uuid:${m.reasonConditionId}` }] } : {}),
      dosage: compact(m.dosage),
    });
  }
  for (const d of patient.diagnosticReports) {
    post(d.organizationId, 'DiagnosticReport', d.id, {
      meta: security(d.sensitivityLabels), status: d.status, category: [{ coding: [{ system: V2_0074, code: REPORT_SECTION[d.category] }] }],
      code: { coding: [{ system: SYSTEM.loinc, code: d.code, display: d.display }] }, subject: subject(d.organizationId),
      effectiveDateTime: d.effective.toISOString(), issued: d.issued.toISOString(),
      performer: [{ reference: `Practitioner/${d.performerId}` }, { reference: `Organization/${d.organizationId}` }],
      result: patient.observations.filter((o) => o.reportId === d.id).map((o) => ({ reference: `urn:uuid:${o.id}` })),
      ...(d.conclusion ? { conclusion: d.conclusion } : {}),
    });
  }
  for (const o of patient.observations) {
    post(o.organizationId, 'Observation', o.id, {
      meta: security(o.sensitivityLabels), status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: SYSTEM.loinc, code: o.code, display: o.display }] }, subject: subject(o.organizationId),
      effectiveDateTime: o.effective.toISOString(), issued: o.issued.toISOString(), performer: [{ reference: `Organization/${o.organizationId}` }],
      ...(o.valueQuantity !== null ? { valueQuantity: { value: o.valueQuantity, unit: o.unit, system: 'http://unitsofmeasure.org', code: o.unit } } : { valueString: o.valueString }),
      ...(o.interpretation ? { interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: o.interpretation }] }] } : {}),
      ...(o.referenceLow !== null || o.referenceHigh !== null ? { referenceRange: [{ ...(o.referenceLow !== null ? { low: { value: o.referenceLow, unit: o.unit } } : {}), ...(o.referenceHigh !== null ? { high: { value: o.referenceHigh, unit: o.unit } } : {}) }] } : {}),
    });
  }
  for (const s of patient.imagingStudies) {
    post(s.organizationId, 'ImagingStudy', s.id, {
      meta: security(s.sensitivityLabels), identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${s.studyInstanceUid}` }], status: 'available',
      modality: [{ system: SYSTEM.dicom, code: s.modality, display: s.modalityDisplay }], subject: subject(s.organizationId), started: s.started.toISOString(),
      numberOfSeries: s.numberOfSeries, numberOfInstances: s.numberOfInstances, description: s.description,
      series: [{ uid: s.studyInstanceUid + '.1', modality: { system: SYSTEM.dicom, code: s.modality }, bodySite: { system: SYSTEM.snomed, code: s.bodySite, display: s.bodySiteDisplay } }],
    });
    if (s.report) {
      post(s.organizationId, 'DiagnosticReport', s.report.id, {
        meta: security(s.sensitivityLabels), status: s.report.status, category: [{ coding: [{ system: V2_0074, code: 'RAD' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '18748-4', display: 'Diagnostic imaging study' }] }, subject: subject(s.organizationId),
        effectiveDateTime: s.started.toISOString(), issued: s.report.issued.toISOString(), performer: [{ reference: `Organization/${s.organizationId}` }],
        resultsInterpreter: [{ reference: `Practitioner/${s.report.radiologistId}` }], imagingStudy: [{ reference: `urn:uuid:${s.id}` }],
        conclusion: s.report.impression, presentedForm: [{ contentType: 'text/plain', title: 'Findings', data: Buffer.from(s.report.findings, 'utf8').toString('base64') }],
      });
    }
  }
  for (const i of patient.immunizations) {
    const program = PROGRAMS.find((x) => x.id === i.programId);
    post(i.organizationId, 'Immunization', i.id, {
      status: i.status, vaccineCode: { coding: [{ system: SYSTEM.cvx, code: i.vaccineCode, display: i.vaccineDisplay }] }, patient: subject(i.organizationId),
      occurrenceDateTime: i.occurrence.toISOString(), primarySource: true, lotNumber: i.lotNumber, performer: [{ actor: { reference: `Organization/${i.organizationId}` } }],
      protocolApplied: [{ ...(program ? { series: program.name } : {}), doseNumberPositiveInt: i.doseNumber }],
    });
  }
  for (const e of patient.enrollments) {
    const program = PROGRAMS.find((x) => x.id === e.programId)!;
    post(e.organizationId, 'EpisodeOfCare', e.id, {
      status: e.status, type: [{ coding: [{ system: PROGRAM_SYSTEM, code: program.code, display: program.name }] }], patient: subject(e.organizationId),
      managingOrganization: { reference: `Organization/${e.organizationId}` },
      period: { start: `${e.periodStart}T00:00:00.000Z`, ...(e.periodEnd ? { end: `${e.periodEnd}T00:00:00.000Z` } : {}) },
    });
  }

  return [...byOrg].map(([organizationId, records]) => {
    const mrn = p.identifiers.find((i) => i.type === 'MR' && i.assignerOrganizationId === organizationId);
    const identifiers = [
      ...p.identifiers.filter((i) => i.type === 'HC').map((i) => ({ system: i.system, value: i.value })),
      // Organisations that never registered the patient (a birth-dose vaccination) publish under a record number of their own.
      mrn ? { system: mrn.system, value: mrn.value } : { system: SYSTEM.mrnPrefix + organizationId, value: `PUB-${p.id.slice(0, 8)}` },
    ];
    const patientEntry = {
      fullUrl: patientUrl(organizationId),
      resource: {
        resourceType: 'Patient', identifier: identifiers, name: [{ use: 'official', family: p.family, given: p.given }], gender: p.sex, birthDate: p.birthDate,
        telecom: [{ system: 'phone', value: p.phone, use: 'mobile' }, ...(p.email ? [{ system: 'email', value: p.email, use: 'home' }] : [])],
        address: [{ line: [p.address.line], city: p.address.city, postalCode: p.address.postalCode, country: 'CN' }],
      },
      request: { method: 'POST', url: 'Patient' },
    };
    return { organizationId, resources: records.length + 1, bundle: { resourceType: 'Bundle', type: 'transaction', entry: [patientEntry, ...records] } };
  });
}
