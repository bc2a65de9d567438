/**
 * ImagingStudy: an imaging study (imaging), identified by its DICOM Study
 * Instance UID, the modality a DICOM code. Its radiology report is a
 * DiagnosticReport (diagnostic-report.ts).
 */
import { SYSTEM, isDicomModality, isSnomedCtId, looksLikeSnomedCt } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlOrganization, GqlPractitioner } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, coding, codingInList, instant, integer, isObject, labelsOf, ORGANIZATION_FIELDS, patientLink, text, REFERENCE, practitionerId, EVERY_CODING,
} from './elements.js';
import type { FhirResourceModule, Json, Mapped } from './module.js';
import { encounterOf, ENCOUNTER_KEEPS, ENCOUNTER_SELECTION } from './encounter-link.js';
import { conceptsOf, conceptToFhir, CONCEPT_SELECTION, logicalReference, REFERENCE_SELECTION, referenceToFhir, type ConceptValue, type ReferenceValue } from './procedure.js';

const DICOM_UID = /^[0-2](?:\.(?:0|[1-9]\d*))+$/;
/** Instances kept per series: a series of a CT runs to a few thousand images. */
const MAX_INSTANCES = 5000;

/** A series' instances as sent (FHIR ImagingStudy.series.instance): each a DICOM SOP Instance UID and its SOP class. */
function instancesOf(value: unknown, issues: Parameters<NonNullable<FhirResourceModule['fromFhir']>>[2]): Json[] | null {
  if (!Array.isArray(value)) return issues.add(400, 'structure', 'series[0].instance must be a list', 'series[0].instance') ?? null;
  if (value.length > MAX_INSTANCES) issues.add(400, 'value', `At most ${MAX_INSTANCES} instances a series`, 'series[0].instance');
  return value.slice(0, MAX_INSTANCES).map((item: unknown, n: number) => {
    const at = `series[0].instance[${n}]`;
    if (!isObject(item)) return issues.add(400, 'structure', `${at} must be an instance`, at) ?? {};
    const uid = typeof item.uid === 'string' && DICOM_UID.test(item.uid) && item.uid.length <= 64 ? item.uid
      : issues.add(400, item.uid === undefined ? 'required' : 'value', `${at}.uid must be a DICOM UID (digits and dots, at most 64 characters)`, `${at}.uid`);
    const sop = isObject(item.sopClass) && typeof item.sopClass.system === 'string' && typeof item.sopClass.code === 'string' && item.sopClass.code ? item.sopClass
      : issues.add(400, 'required', `${at}.sopClass is required: a Coding with its system and code (the DICOM SOP Class UID)`, `${at}.sopClass`);
    return Object.fromEntries(Object.entries({
      uid, sopClass: sop ? { system: sop.system, code: sop.code, ...(typeof sop.display === 'string' ? { display: sop.display } : {}) } : undefined,
      number: item.number === undefined ? undefined : integer(item.number, issues, `${at}.number`, 0),
      title: item.title === undefined ? undefined : text(item.title, issues, `${at}.title`, { max: 1000 }),
    }).filter(([, v]) => v !== undefined && v !== null));
  });
}

export interface GqlImagingStudy {
  id: string; studyInstanceUid: string | null; modality: GqlCoding | null; bodySite: GqlCoding | null; description: string | null;
  numberOfSeries: number | null; numberOfInstances: number | null; started: string | null; organization: GqlOrganization | null;
  series?: {
    uid: string | null; number: number | null; modality: GqlCoding | null; bodySite: GqlCoding | null; description: string | null; numberOfInstances: number | null;
    started?: string | null; instance?: { uid: string; sopClass: GqlCoding; number: number | null; title: string | null }[] | null;
  }[] | null;
  encounter?: { id: string } | null; procedureCode?: ConceptValue[] | null; location?: ReferenceValue | null;
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
    series: {
      $max: 1, uid: true, number: true, modality: { system: true, code: true, display: true }, bodySite: { system: true, code: true, display: true }, description: true, numberOfInstances: true,
      started: true, instance: { $max: MAX_INSTANCES, uid: true, sopClass: { system: true, code: true, display: true }, number: true, title: true },
    },
    encounter: ENCOUNTER_KEEPS, procedureCode: EVERY_CODING, location: REFERENCE,
  },
  exports: [{
    from: 'imagingStudies',
    select: () => ({ imagingStudies: `id studyInstanceUid modality ${CODING_FIELDS} bodySite ${CODING_FIELDS} description numberOfSeries numberOfInstances series { uid number modality ${CODING_FIELDS} bodySite ${CODING_FIELDS} description numberOfInstances
    started instance { uid sopClass ${CODING_FIELDS} number title } } started organization ${ORGANIZATION_FIELDS} sensitivityLabels
    ${ENCOUNTER_SELECTION} procedureCode ${CONCEPT_SELECTION} location ${REFERENCE_SELECTION}` }),
    toFhir: (s: GqlImagingStudy, x) => ({
      resourceType: 'ImagingStudy',
      id: s.id,
      meta: x.meta(s, s.sensitivityLabels),
      // The Study Instance UID is an OID: FHIR writes it urn:oid:… under the urn:dicom:uid system.
      identifier: s.studyInstanceUid ? [{ system: SYSTEMS.dicomUid, value: `urn:oid:${s.studyInstanceUid}` }] : undefined,
      status: 'available',
      modality: s.modality ? [coding(s.modality)] : undefined,
      subject: x.patientRef,
      // Linked only where the caller may see the encounter (it is then in the export).
      encounter: x.link('Encounter', s.encounter?.id),
      started: s.started,
      interpreter: s.report?.radiologist ? [x.practitioner(s.report.radiologist)] : undefined,
      numberOfSeries: s.numberOfSeries,
      numberOfInstances: s.numberOfInstances,
      procedureCode: s.procedureCode?.length ? s.procedureCode.map(conceptToFhir) : undefined,
      location: referenceToFhir(s.location),
      // R4 carries the body site only per series (ImagingStudy.series.bodySite), and a series needs its own
      // DICOM UID: the series as published, when it was; else the site is left to the description (no UID is invented).
      description: s.description ?? (!s.series?.length && s.bodySite?.display ? `${s.modality?.code ?? 'Imaging'} ${s.bodySite.display}` : undefined),
      series: s.series?.length ? s.series.map((series) => ({
        uid: series.uid ?? undefined, number: series.number ?? undefined, modality: series.modality ? coding(series.modality) : undefined,
        description: series.description ?? undefined, numberOfInstances: series.numberOfInstances ?? undefined,
        bodySite: series.bodySite ? coding(series.bodySite) : undefined,
        started: series.started ?? undefined,
        instance: series.instance?.length ? series.instance.map((i) => ({ uid: i.uid, sopClass: coding(i.sopClass), number: i.number ?? undefined, title: i.title ?? undefined })) : undefined,
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
      started: series.started === undefined ? undefined : instant(series.started, issues, 'series[0].started'),
      instance: series.instance === undefined ? undefined : instancesOf(series.instance, issues),
    }).filter(([, v]) => v !== undefined && v !== null)) : null;
    // The encounter (encounters' record): an existing one by id, one of this Bundle through the coordinator (encounter-link.ts).
    const encounter = encounterOf(r.encounter, context, issues);
    const procedures = conceptsOf(r.procedureCode, issues, 'procedureCode');
    return {
      ...(encounter.foreignLinks ? { foreignLinks: encounter.foreignLinks } : {}),
      recordType: 'ImagingStudy', kind: 'imaging-study', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        study_instance_uid: uid, modality: modality?.code, modality_display: modality?.display ?? null, body_site: bodySite?.code ?? null, body_site_display: bodySite?.display ?? null,
        description: r.description === undefined ? null : text(r.description, issues, 'description', { max: 1000 }),
        number_of_series: integer(r.numberOfSeries, issues, 'numberOfSeries', 0), number_of_instances: integer(r.numberOfInstances, issues, 'numberOfInstances', 0),
        series: kept, started: instant(r.started, issues, 'started', true), sensitivity_labels: labelsOf(r, issues),
        encounter_id: encounter.encounterId, procedure_codes: procedures?.length ? procedures : null, location: logicalReference(r.location, ['Location'], issues, 'location'),
      },
    };
  },
};
