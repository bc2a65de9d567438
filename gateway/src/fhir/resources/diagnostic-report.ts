/**
 * DiagnosticReport: two record types of the catalogue share it, told apart
 * by the v2-0074 diagnostic service section. Lab, ECG and pathology reports
 * (LAB, EC, PAT) are the labs subgraph's, and list their results; a
 * radiology report (RAD) is part of its imaging study, in imaging, and is
 * exported from the study's `report` only when consent lets it through
 * (imaging-reports is a category of its own). A report whose category is a
 * LOINC note code (and no section) is a clinical note: read, kept and
 * exported by document-reference.ts (the notes record type, in imaging).
 */
import { Buffer } from 'node:buffer';
import { SYSTEM, isLoincCode, looksLikeLoinc } from '../../../../lib/records/terminology.js';
import type { EntryRef } from '../../../../lib/ingest/types.js';
import type { GqlCoding, GqlOrganization, GqlPractitioner } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, codingOf, concept, instant, isObject, labelsOf, ORGANIZATION_FIELDS, ownOrganization, patientLink, PRACTITIONER_FIELDS, practitionerId, recordRef, text, withDisplay, ONE_CODING, REFERENCE,
} from './elements.js';
import type { FhirResourceModule, Json, Mapped } from './module.js';
import { encounterOf, ENCOUNTER_KEEPS, ENCOUNTER_SELECTION } from './encounter-link.js';
import { labCodeOf, type GqlObservation } from './observation.js';
import type { GqlImagingStudy } from './imaging-study.js';
import { isNoteReport, readNoteReport } from './document-reference.js';

export const REPORT_STATUS = new Set(['registered', 'partial', 'preliminary', 'final', 'amended', 'corrected', 'appended', 'cancelled', 'entered-in-error', 'unknown']);

/** DiagnosticReportCategory → v2-0074 diagnostic service section (as in the catalogue's granular categories). */
export const REPORT_CATEGORY: Record<string, { code: string; display: string }> = {
  LAB: { code: 'LAB', display: 'Laboratory' },
  ECG: { code: 'EC', display: 'Electrocardiac (e.g., EKG, EEC, Holter)' },
  PATHOLOGY: { code: 'PAT', display: 'Pathology (gross & histopath, not surgical)' },
  RAD: { code: 'RAD', display: 'Radiology' },
};
/** v2-0074 section → the labs subgraph's report category (RAD goes to imaging). */
const LAB_CATEGORY: Record<string, string> = Object.fromEntries(Object.entries(REPORT_CATEGORY).filter(([name]) => name !== 'RAD').map(([name, c]) => [c.code, name]));

/** LOINC code for a radiology report: the GraphQL ImagingReport carries no code of its own. */
export const IMAGING_REPORT_CODE = { system: SYSTEMS.loinc, code: '18748-4', display: 'Diagnostic imaging study' };

export interface GqlDiagnosticReport {
  id: string; category: string | null; code: GqlCoding | null; status: string | null; effectiveDateTime: string | null;
  issued: string | null; conclusion: string | null; performer: GqlPractitioner | null; organization: GqlOrganization | null; encounter?: { id: string } | null;
  sensitivityLabels: string[] | null;
}

export const diagnosticReport: FhirResourceModule = {
  resourceType: 'DiagnosticReport',
  keeps: {
    identifier: { system: true, value: true }, status: true, category: { coding: { system: true, code: true, display: true } }, code: ONE_CODING, subject: REFERENCE,
    effectiveDateTime: true, issued: true, performer: REFERENCE, result: { reference: true }, conclusion: true,
    imagingStudy: { $max: 1, reference: true }, presentedForm: { $max: 1, contentType: true, title: true, data: true }, resultsInterpreter: { $max: 1, ...REFERENCE },
    encounter: ENCOUNTER_KEEPS,
  },
  exports: [
    {
      from: 'diagnosticReports',
      // An observation's report, asked for only when results are exported too (plan.reportLinks): observations carry the link.
      select: (plan) => ({
        diagnosticReports: `id category code ${CODING_FIELDS} status effectiveDateTime issued conclusion performer ${PRACTITIONER_FIELDS} organization ${ORGANIZATION_FIELDS} ${ENCOUNTER_SELECTION} sensitivityLabels`,
        ...(plan.reportLinks ? { observations: 'report { id }' } : {}),
      }),
      toFhir(r: GqlDiagnosticReport, x) {
        const code = x.requiredConcept(r, 'code', r.code);
        const category = r.category ? REPORT_CATEGORY[r.category] : undefined;
        if (!r.status || !code) return x.withheld();
        return {
          resourceType: 'DiagnosticReport',
          id: r.id,
          meta: x.meta(r, r.sensitivityLabels),
          status: REPORT_STATUS.has(r.status) ? r.status : 'unknown',
          category: category ? [{ coding: [{ system: SYSTEMS.diagnosticServiceSection, code: category.code, display: category.display }] }] : undefined,
          code,
          subject: x.patientRef,
          encounter: x.link('Encounter', r.encounter?.id),
          effectiveDateTime: r.effectiveDateTime,
          issued: r.issued,
          performer: [x.practitioner(r.performer), x.org(r.organization)],
          // Only results in this bundle (observations carry the link to their report).
          result: (x.nodes.observations as GqlObservation[]).filter((o) => o.report?.id === r.id).map((o) => x.link('Observation', o.id)),
          conclusion: r.conclusion,
        };
      },
    },
    {
      recordType: 'ImagingReport',
      from: 'imagingStudies',
      // Only when the export may carry it: the token reads DiagnosticReports of imaging-reports.
      runs: (plan) => plan.radiologyReports,
      select: () => ({ imagingStudies: `report { id lastUpdated status findings impression issued radiologist ${PRACTITIONER_FIELDS} sensitivityLabels }` }),
      /** The radiology report: a DiagnosticReport (RAD) of its own, only when consent let it through. */
      toFhir(s: GqlImagingStudy, x) {
        const report = s.report;
        if (!report || !report.status || report.impression === null) return x.masks.has(s, 'report') ? x.withheld() : null;
        return {
          resourceType: 'DiagnosticReport',
          id: report.id,
          meta: x.meta(report, report.sensitivityLabels),
          status: REPORT_STATUS.has(report.status) ? report.status : 'unknown',
          category: [{ coding: [{ system: SYSTEMS.diagnosticServiceSection, code: REPORT_CATEGORY.RAD!.code, display: REPORT_CATEGORY.RAD!.display }] }],
          code: concept(IMAGING_REPORT_CODE),
          subject: x.patientRef,
          effectiveDateTime: s.started,
          issued: report.issued,
          performer: [x.org(s.organization)],
          resultsInterpreter: [x.practitioner(report.radiologist)],
          imagingStudy: [{ reference: `ImagingStudy/${s.id}` }],
          conclusion: report.impression,
          presentedForm: report.findings ? [{ contentType: 'text/plain', title: 'Findings', data: Buffer.from(report.findings, 'utf8').toString('base64') }] : undefined,
        };
      },
    },
  ],
  fromFhir(r, context, issues): Mapped {
    if (isNoteReport(r)) return readNoteReport(r, context, issues);
    const section = Array.isArray(r.category) ? (r.category as Json[]).flatMap((c) => (Array.isArray(c?.coding) ? c.coding : [])).find((c: Json) => c?.system === SYSTEMS.diagnosticServiceSection)?.code : undefined;
    const status = text(r.status, issues, 'status', { required: true });
    if (status && !REPORT_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not a diagnostic-report-status code', 'status');
    const labCode = section === 'RAD' ? null : labCodeOf(r.code, issues, 'code');
    const code = section === 'RAD' ? withDisplay(codingOf(r.code, SYSTEM.loinc, issues, 'code', { name: 'LOINC', valid: isLoincCode, shape: looksLikeLoinc, required: true })) : labCode;
    let performerId: string | null = null;
    (Array.isArray(r.performer) ? r.performer : []).forEach((p: unknown, n: number) => {
      const ref = isObject(p) ? p.reference : undefined;
      if (typeof ref === 'string' && ref.startsWith('Practitioner/')) performerId ??= practitionerId(p, issues, `performer[${n}]`);
      else ownOrganization(p, context, issues, `performer[${n}]`);
    });
    const patient = patientLink(r.subject, context, issues, 'subject');
    const labels = labelsOf(r, issues);
    if (section === 'RAD') {
      // A radiology report is its imaging study's (imaging keeps no encounter of its own): refused by name, not dropped.
      if (r.encounter !== undefined) issues.add(422, 'not-supported', 'A radiology report is kept with its imaging study, which holds no encounter: send the report without it', 'encounter');
      // A radiology report belongs to its imaging study (imaging subgraph).
      const study = recordRef(Array.isArray(r.imagingStudy) ? r.imagingStudy[0] : undefined, ['ImagingStudy'], context, issues, 'imagingStudy[0]');
      if (!study && !(Array.isArray(r.imagingStudy) && r.imagingStudy.length)) issues.add(400, 'required', 'A radiology report references its ImagingStudy', 'imagingStudy');
      const findings = Array.isArray(r.presentedForm) && typeof r.presentedForm[0]?.data === 'string' ? Buffer.from(r.presentedForm[0].data, 'base64').toString('utf8') : '';
      const radiologist = Array.isArray(r.resultsInterpreter) ? practitionerId(r.resultsInterpreter[0], issues, 'resultsInterpreter[0]') : null;
      return {
        recordType: 'ImagingReport', kind: 'imaging-report', refs: study ? { study } : {}, patient, patientElement: 'subject', results: [],
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
    const encounter = encounterOf(r.encounter, context, issues);
    return {
      recordType: 'DiagnosticReport', kind: 'diagnostic-report', refs: {}, patient, patientElement: 'subject',
      ...(encounter.foreignLinks ? { foreignLinks: encounter.foreignLinks } : {}),
      results: results.filter((ref: EntryRef | null): ref is EntryRef => Boolean(ref)),
      record: {
        code: code?.code, display: code?.display, category: LAB_CATEGORY[section ?? 'LAB'] ?? 'LAB', status, effective: instant(r.effectiveDateTime, issues, 'effectiveDateTime', true),
        issued: instant(r.issued, issues, 'issued'), conclusion: r.conclusion === undefined ? null : text(r.conclusion, issues, 'conclusion', { max: 10_000 }),
        performer_id: performerId, sensitivity_labels: labels, encounter_id: encounter.encounterId,
        code_system: labCode?.system ?? null, local_code: labCode?.local?.code ?? null, local_system: labCode?.local?.system ?? null, local_display: labCode?.local?.display ?? null,
      },
    };
  },
};
