/**
 * What the generator wrote, shaped like the GraphQL responses, for comparing
 * end-to-end results against the source of truth.
 */
import type { PatientBundle } from '../../lib/synthetic/generator.js';

const newestFirst = <T>(items: T[], time: (item: T) => Date, id: (item: T) => string) =>
  [...items].sort((a, b) => time(b).getTime() - time(a).getTime() || (id(b) < id(a) ? -1 : id(b) > id(a) ? 1 : 0));

export const iso = (date: Date) => date.toISOString();
const CLASS = { AMB: 'OUTPATIENT', IMP: 'INPATIENT', EMER: 'EMERGENCY', VR: 'VIRTUAL' } as const;

export function expectedFor(bundle: PatientBundle) {
  return {
    encounters: newestFirst(bundle.encounters, (e) => e.periodStart, (e) => e.id).map((e) => ({
      id: e.id, class: CLASS[e.class], period: { start: iso(e.periodStart), end: e.periodEnd ? iso(e.periodEnd) : null },
      organization: { id: e.organizationId }, reason: { code: e.reasonCode }, sensitivityLabels: e.sensitivityLabels,
    })),
    conditions: newestFirst(bundle.conditions, (c) => c.recordedDate, (c) => c.id).map((c) => ({
      id: c.id, code: { code: c.code, system: 'http://hl7.org/fhir/sid/icd-10' }, clinicalStatus: c.clinicalStatus, encounter: { id: c.encounterId },
    })),
    referrals: newestFirst(bundle.referrals, (r) => r.authoredOn, (r) => r.id).map((r) => ({
      id: r.id, status: r.status.toUpperCase(), requester: { id: r.requesterOrganizationId }, performer: { id: r.performerOrganizationId },
      appointmentTime: r.appointmentTime ? iso(r.appointmentTime) : null,
    })),
    observations: newestFirst(bundle.observations, (o) => o.effective, (o) => o.id).map((o) => ({
      id: o.id, code: { code: o.code, system: 'http://loinc.org' }, valueQuantity: o.valueQuantity === null ? null : { value: o.valueQuantity, unit: o.unit },
      valueString: o.valueString, interpretation: o.interpretation ? { code: o.interpretation } : null, effectiveDateTime: iso(o.effective),
      organization: { id: o.organizationId }, report: o.reportId ? { id: o.reportId } : null, sensitivityLabels: o.sensitivityLabels,
    })),
    diagnosticReports: newestFirst(bundle.diagnosticReports, (r) => r.effective, (r) => r.id).map((r) => ({
      id: r.id, category: r.category, code: { code: r.code }, conclusion: r.conclusion, organization: { id: r.organizationId },
    })),
    imagingStudies: newestFirst(bundle.imagingStudies, (s) => s.started, (s) => s.id).map((s) => ({
      id: s.id, studyInstanceUid: s.studyInstanceUid, modality: { code: s.modality, system: 'http://dicom.nema.org/resources/ontology/DCM' },
      bodySite: { code: s.bodySite }, numberOfSeries: s.numberOfSeries, numberOfInstances: s.numberOfInstances, started: iso(s.started),
      report: s.report ? { impression: s.report.impression, radiologist: { id: s.report.radiologistId } } : null,
    })),
    programEnrollments: newestFirst(bundle.enrollments, (e) => new Date(`${e.periodStart}T00:00:00Z`), (e) => e.id).map((e) => ({
      id: e.id, program: { id: e.programId }, status: e.status, organization: { id: e.organizationId },
    })),
    immunizations: newestFirst(bundle.immunizations, (i) => i.occurrence, (i) => i.id).map((i) => ({
      id: i.id, vaccineCode: { code: i.vaccineCode, system: 'http://hl7.org/fhir/sid/cvx' }, doseNumber: i.doseNumber, lotNumber: i.lotNumber,
      occurrenceDateTime: iso(i.occurrence),
    })),
    followUpTasks: newestFirst(bundle.followUpTasks, (t) => t.createdAt, (t) => t.id).map((t) => ({
      id: t.id, dueDate: t.dueDate, status: t.status.toUpperCase(), assignedRole: t.assignedRole,
    })),
    homeMeasurements: newestFirst(bundle.homeMeasurements, (m) => m.effective, (m) => m.id).map((m) => ({
      id: m.id, kind: m.kind.toUpperCase().replace('-', '_'), systolic: m.systolic, diastolic: m.diastolic, value: m.value, effectiveDateTime: iso(m.effective),
    })),
  };
}
