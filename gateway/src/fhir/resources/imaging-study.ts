/**
 * ImagingStudy: an imaging study (imaging), identified by its DICOM Study
 * Instance UID, the modality a DICOM code. Its radiology report is a
 * DiagnosticReport (diagnostic-report.ts).
 */
import { SYSTEM, isDicomModality, isSnomedCtId, looksLikeSnomedCt } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlOrganization, GqlPractitioner } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, coding, codingInList, instant, integer, isObject, labelsOf, ORGANIZATION_FIELDS, patientLink, text, REFERENCE, practitionerId,
} from './elements.js';
import type { FhirResourceModule, Json, Mapped } from './module.js';

const DICOM_UID = /^[0-2](?:\.(?:0|[1-9]\d*))+$/;

export interface GqlImagingStudy {
  id: string; studyInstanceUid: string | null; modality: GqlCoding | null; bodySite: GqlCoding | null; description: string | null;
  numberOfSeries: number | null; numberOfInstances: number | null; started: string | null; organization: GqlOrganization | null;
  series?: { uid: string | null; number: number | null; modality: GqlCoding | null; bodySite: GqlCoding | null; description: string | null; numberOfInstances: number | null }[] | null;
  /** Asked for only when the export may carry the radiology report (diagnostic-report.ts). */
  report?: {
    id: string; status: string | null; findings: string | null; impression: string | null; issued: string | null; radiologist: GqlPractitioner | null;
    sensitivityLabels: string[] | null;
  } | null;
  sensitivityLabels: string[] | null;
}

export const imagingStudy: FhirResourceModule = {
  resourceType: 'ImagingStudy',
  keeps: {
    identifier: { system: true, value: true }, status: true, modality: { system: true, code: true, display: true }, subject: REFERENCE, started: true,
    numberOfSeries: true, numberOfInstances: true, description: true,
    // Derived, as the export writes it: the radiologist of the study's report (kept on the report, resultsInterpreter).
    interpreter: { $max: 1, reference: true, display: true },
    series: { $max: 1, uid: true, number: true, modality: { system: true, code: true, display: true }, bodySite: { system: true, code: true, display: true }, description: true, numberOfInstances: true },
  },
  exports: [{
    from: 'imagingStudies',
    select: () => ({ imagingStudies: `id studyInstanceUid modality ${CODING_FIELDS} bodySite ${CODING_FIELDS} description numberOfSeries numberOfInstances series { uid number modality ${CODING_FIELDS} bodySite ${CODING_FIELDS} description numberOfInstances } started organization ${ORGANIZATION_FIELDS} sensitivityLabels` }),
    toFhir: (s: GqlImagingStudy, x) => ({
      resourceType: 'ImagingStudy',
      id: s.id,
      meta: x.meta(s, s.sensitivityLabels),
      // The Study Instance UID is an OID: FHIR writes it urn:oid:… under the urn:dicom:uid system.
      identifier: s.studyInstanceUid ? [{ system: SYSTEMS.dicomUid, value: `urn:oid:${s.studyInstanceUid}` }] : undefined,
      status: 'available',
      modality: s.modality ? [coding(s.modality)] : undefined,
      subject: x.patientRef,
      started: s.started,
      interpreter: s.report?.radiologist ? [x.practitioner(s.report.radiologist)] : undefined,
      numberOfSeries: s.numberOfSeries,
      numberOfInstances: s.numberOfInstances,
      // R4 carries the body site only per series (ImagingStudy.series.bodySite), and a series needs its own
      // DICOM UID: the series as published, when it was; else the site is left to the description (no UID is invented).
      description: s.description ?? (!s.series?.length && s.bodySite?.display ? `${s.modality?.code ?? 'Imaging'} ${s.bodySite.display}` : undefined),
      series: s.series?.length ? s.series.map((series) => ({
        uid: series.uid ?? undefined, number: series.number ?? undefined, modality: series.modality ? coding(series.modality) : undefined,
        description: series.description ?? undefined, numberOfInstances: series.numberOfInstances ?? undefined,
        bodySite: series.bodySite ? coding(series.bodySite) : undefined,
      })) : undefined,
    }),
  }],
  fromFhir(r, context, issues): Mapped {
    const identifiers = Array.isArray(r.identifier) ? (r.identifier as Json[]) : [];
    const position = identifiers.findIndex((i) => i?.system === SYSTEMS.dicomUid);
    const uid = position >= 0 && typeof identifiers[position]!.value === 'string' ? identifiers[position]!.value.replace(/^urn:oid:/, '') : null;
    if (position < 0) issues.add(400, 'required', `identifier needs the Study Instance UID (system ${SYSTEMS.dicomUid}, value urn:oid:…)`, 'identifier');
    else if (!uid || !DICOM_UID.test(uid) || uid.length > 64) issues.add(400, 'value', 'The Study Instance UID must be a DICOM UID (digits and dots, at most 64 characters)', `identifier[${position}].value`);
    const modality = codingInList(r.modality, SYSTEMS.dicomModality, issues, 'modality', { name: 'DICOM modality', valid: isDicomModality, required: true });
    const series = Array.isArray(r.series) && isObject(r.series[0]) ? r.series[0] : null;
    const bodySite = series?.bodySite ? codingInList([series.bodySite], SYSTEM.snomed, issues, 'series[0].bodySite', { name: 'SNOMED CT', valid: isSnomedCtId, shape: looksLikeSnomedCt }, true) : null;
    if (r.status !== undefined && !['registered', 'available', 'cancelled', 'entered-in-error', 'unknown'].includes(r.status)) issues.add(400, 'code-invalid', 'status is not an imagingstudy-status code', 'status');
    else if (r.status !== undefined && r.status !== 'available') issues.add(422, 'not-supported', 'A published study is kept as available (its images exist): another status would be lost', 'status');
    (Array.isArray(r.interpreter) ? r.interpreter : []).forEach((p: unknown, n: number) => practitionerId(p, issues, `interpreter[${n}]`));
    // The series as sent (one per study; imaging migration 005): its UID a DICOM UID, its modality DICOM, its site SNOMED CT.
    const seriesUid = series?.uid === undefined ? undefined : typeof series.uid === 'string' && DICOM_UID.test(series.uid) && series.uid.length <= 64 ? series.uid
      : issues.add(400, 'value', 'series[0].uid must be a DICOM UID (digits and dots, at most 64 characters)', 'series[0].uid');
    const seriesModality = series?.modality === undefined ? null : codingInList([series.modality], SYSTEMS.dicomModality, issues, 'series[0].modality', { name: 'DICOM modality', valid: isDicomModality, required: true }, true);
    const kept = series ? Object.fromEntries(Object.entries({
      uid: seriesUid, number: series.number === undefined ? undefined : integer(series.number, issues, 'series[0].number', 0),
      modality: seriesModality ? { system: SYSTEMS.dicomModality, code: seriesModality.code, ...(seriesModality.display ? { display: seriesModality.display } : {}) } : undefined,
      bodySite: bodySite ? { system: SYSTEM.snomed, code: bodySite.code, ...(bodySite.display ? { display: bodySite.display } : {}) } : undefined,
      description: series.description === undefined ? undefined : text(series.description, issues, 'series[0].description', { max: 1000 }),
      numberOfInstances: series.numberOfInstances === undefined ? undefined : integer(series.numberOfInstances, issues, 'series[0].numberOfInstances', 0),
    }).filter(([, v]) => v !== undefined && v !== null)) : null;
    return {
      recordType: 'ImagingStudy', kind: 'imaging-study', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        study_instance_uid: uid, modality: modality?.code, modality_display: modality?.display ?? null, body_site: bodySite?.code ?? null, body_site_display: bodySite?.display ?? null,
        description: r.description === undefined ? null : text(r.description, issues, 'description', { max: 1000 }),
        number_of_series: integer(r.numberOfSeries, issues, 'numberOfSeries', 0), number_of_instances: integer(r.numberOfInstances, issues, 'numberOfInstances', 0),
        series: kept, started: instant(r.started, issues, 'started', true), sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
