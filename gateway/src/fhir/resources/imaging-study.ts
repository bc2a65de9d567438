/**
 * ImagingStudy: an imaging study (imaging), identified by its DICOM Study
 * Instance UID, the modality a DICOM code. Its radiology report is a
 * DiagnosticReport (diagnostic-report.ts).
 */
import { SYSTEM, isDicomModality, isSnomedCtId, looksLikeSnomedCt } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlOrganization, GqlPractitioner } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import { CODING_FIELDS, coding, codingInList, instant, integer, isObject, labelsOf, ORGANIZATION_FIELDS, patientLink, text } from './elements.js';
import type { FhirResourceModule, Json, Mapped } from './module.js';

const DICOM_UID = /^[0-2](?:\.(?:0|[1-9]\d*))+$/;

export interface GqlImagingStudy {
  id: string; studyInstanceUid: string | null; modality: GqlCoding | null; bodySite: GqlCoding | null; description: string | null;
  numberOfSeries: number | null; numberOfInstances: number | null; started: string | null; organization: GqlOrganization | null;
  /** Asked for only when the export may carry the radiology report (diagnostic-report.ts). */
  report?: {
    id: string; status: string | null; findings: string | null; impression: string | null; issued: string | null; radiologist: GqlPractitioner | null;
    sensitivityLabels: string[] | null;
  } | null;
  sensitivityLabels: string[] | null;
}

export const imagingStudy: FhirResourceModule = {
  resourceType: 'ImagingStudy',
  exports: [{
    from: 'imagingStudies',
    select: () => ({ imagingStudies: `id studyInstanceUid modality ${CODING_FIELDS} bodySite ${CODING_FIELDS} description numberOfSeries numberOfInstances started organization ${ORGANIZATION_FIELDS} sensitivityLabels` }),
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
      // R4 carries the body site only per series (ImagingStudy.series.bodySite),
      // and a series needs its own DICOM UID, which the product does not hold;
      // inventing one would be worse than leaving the site to the description.
      description: s.description ?? (s.bodySite?.display ? `${s.modality?.code ?? 'Imaging'} ${s.bodySite.display}` : undefined),
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
    return {
      recordType: 'ImagingStudy', kind: 'imaging-study', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        study_instance_uid: uid, modality: modality?.code, modality_display: modality?.display ?? null, body_site: bodySite?.code ?? null, body_site_display: bodySite?.display ?? null,
        description: r.description === undefined ? null : text(r.description, issues, 'description', { max: 1000 }),
        number_of_series: integer(r.numberOfSeries, issues, 'numberOfSeries', 0), number_of_instances: integer(r.numberOfInstances, issues, 'numberOfInstances', 0),
        started: instant(r.started, issues, 'started', true), sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
