/**
 * Condition: a diagnosis (encounters), linked to the encounter it was made in.
 * Its code is kept as sent (issue 27): every coding, in any recognised system
 * (ICD-10, ICD-10-CM, SNOMED CT… with their formats and check digits
 * checked: code-systems.ts) or a local one with its system, and the text.
 * What the alliance requires of it (by default ICD-10 or SNOMED CT) is the
 * coding policy's, configuration (../coding-policy.ts).
 */
import { SYSTEM } from '../../../../lib/records/terminology.js';
import { CODE_CHECKS, ICD10_CM } from './code-systems.js';
import type { GqlCoding, GqlOrganization } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, codingsOf, concept, instant, isObject, labelsOf, ORGANIZATION_FIELDS, patientLink, recordRef, text, EVERY_CODING, REFERENCE,
} from './elements.js';
import type { FhirResourceModule, Mapped } from './module.js';

const CONDITION_CLINICAL = new Set(['active', 'recurrence', 'relapse', 'inactive', 'remission', 'resolved']);

/** The coding a diagnosis is listed and searched under: ICD-10 where sent, else ICD-10-CM, else SNOMED CT, else the first. */
const PRIMARY_SYSTEMS = [SYSTEM.icd10, ICD10_CM, SYSTEM.snomed];

export interface GqlCondition {
  id: string; code: GqlCoding | null; codeableConcept?: { coding: GqlCoding[]; text: string | null } | null; clinicalStatus: string | null; recordedDate: string | null;
  encounter: { id: string } | null; organization: GqlOrganization | null; sensitivityLabels: string[] | null;
  onsetDateTime?: string | null; abatementDateTime?: string | null; verificationStatus?: string | null;
}

/** FHIR condition-ver-status (Condition.verificationStatus, a required binding). */
const VERIFICATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';
const VERIFICATION = new Set(['unconfirmed', 'provisional', 'differential', 'confirmed', 'refuted', 'entered-in-error']);

export const condition: FhirResourceModule = {
  resourceType: 'Condition',
  keeps: {
    identifier: { system: true, value: true },
    clinicalStatus: { coding: { $max: 1, system: true, code: true } },
    category: { $max: 1, coding: { $max: 1, system: true, code: true, display: true } },
    code: EVERY_CODING, subject: REFERENCE, encounter: { reference: true }, recordedDate: true, onsetDateTime: true, abatementDateTime: true,
    verificationStatus: { coding: { $max: 1, system: true, code: true } },
  },
  exports: [{
    from: 'conditions',
    select: () => ({ conditions: `id code ${CODING_FIELDS} codeableConcept { coding ${CODING_FIELDS} text } clinicalStatus recordedDate onsetDateTime abatementDateTime verificationStatus encounter { id } organization ${ORGANIZATION_FIELDS} sensitivityLabels` }),
    toFhir: (c: GqlCondition, x) => ({
      resourceType: 'Condition',
      id: c.id,
      meta: x.meta(c, c.sensitivityLabels),
      clinicalStatus: c.clinicalStatus ? { coding: [{ system: SYSTEMS.conditionClinical, code: c.clinicalStatus }] } : undefined,
      category: [{ coding: [{ system: SYSTEMS.conditionCategory, code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
      // As sent: every coding and the text (a record stored before codes were kept whole: its one ICD-10 coding).
      code: c.codeableConcept?.coding.length || c.codeableConcept?.text
        ? { ...(c.codeableConcept.coding.length ? { coding: c.codeableConcept.coding.map((k) => ({ system: k.system, code: k.code, ...(k.display ? { display: k.display } : {}) })) } : {}), ...(c.codeableConcept.text ? { text: c.codeableConcept.text } : {}) }
        : concept(c.code),
      subject: x.patientRef,
      encounter: x.link('Encounter', c.encounter?.id),
      recordedDate: c.recordedDate,
      onsetDateTime: c.onsetDateTime ?? undefined,
      abatementDateTime: c.abatementDateTime ?? undefined,
      verificationStatus: c.verificationStatus ? { coding: [{ system: VERIFICATION_SYSTEM, code: c.verificationStatus }] } : undefined,
    }),
  }],
  fromFhir(r, context, issues): Mapped {
    // Every coding as sent, those of recognised systems checked (format, check digit); at least one coding.
    if (r.code === undefined) issues.add(400, 'required', 'code is required: the diagnosis, coded (ICD-10, SNOMED CT…)', 'code');
    const codings = codingsOf(r.code, issues, 'code', CODE_CHECKS);
    const codeText = isObject(r.code) && r.code.text !== undefined ? text(r.code.text, issues, 'code.text', { max: 2000 }) : null;
    if (r.code !== undefined && isObject(r.code) && !codings.length && !(Array.isArray(r.code.coding) && r.code.coding.length)) issues.add(400, 'required', 'code needs a coding (its system and code)', 'code.coding');
    const primary = PRIMARY_SYSTEMS.map((system) => codings.find((c) => c.system === system)).find(Boolean) ?? codings[0];
    const code = primary ? { code: primary.code, display: primary.display ?? codeText ?? primary.code, system: primary.system } : null;
    const clinical = isObject(r.clinicalStatus) && Array.isArray(r.clinicalStatus.coding) ? r.clinicalStatus.coding[0]?.code : undefined;
    if (!CONDITION_CLINICAL.has(clinical)) issues.add(400, 'code-invalid', 'clinicalStatus needs a condition-clinical code (active, resolved…)', 'clinicalStatus');
    const encounter = recordRef(r.encounter, ['Encounter'], context, issues, 'encounter');
    // What the export gives back: an encounter diagnosis, filed at its recorded date (the onset stands in for it when absent).
    const category = Array.isArray(r.category) && isObject(r.category[0]) && Array.isArray(r.category[0].coding) ? r.category[0].coding[0] : undefined;
    if (category !== undefined && (category?.system !== SYSTEMS.conditionCategory || category?.code !== 'encounter-diagnosis')) {
      issues.add(422, 'not-supported', `category is kept only as encounter-diagnosis (${SYSTEMS.conditionCategory}): another would be lost`, 'category[0].coding[0]');
    }
    // Onset and abatement as sent (their precision and zone), checked as dateTimes (encounters migration 014).
    const onset = instant(r.onsetDateTime, issues, 'onsetDateTime') === null ? null : r.onsetDateTime as string;
    const abatement = instant(r.abatementDateTime, issues, 'abatementDateTime') === null ? null : r.abatementDateTime as string;
    if (onset && abatement && Date.parse(abatement) < Date.parse(onset)) issues.add(400, 'invalid', 'abatementDateTime is before onsetDateTime', 'abatementDateTime');
    const verification = r.verificationStatus === undefined ? undefined
      : isObject(r.verificationStatus) && Array.isArray(r.verificationStatus.coding) ? r.verificationStatus.coding[0] : null;
    if (verification !== undefined && (!isObject(verification) || verification.system !== VERIFICATION_SYSTEM || !VERIFICATION.has(String(verification.code)))) {
      issues.add(400, 'code-invalid', `verificationStatus needs a code of ${VERIFICATION_SYSTEM} (${[...VERIFICATION].join(', ')})`, 'verificationStatus');
    }
    return {
      recordType: 'Condition', kind: 'condition', refs: encounter ? { encounter } : {},
      patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        code: code?.code, display: code?.display, code_system: code?.system ?? null, codings: { coding: codings, text: codeText }, clinical_status: clinical,
        recorded_date: instant(r.recordedDate ?? r.onsetDateTime, issues, r.recordedDate === undefined && r.onsetDateTime !== undefined ? 'onsetDateTime' : 'recordedDate', true),
        sensitivity_labels: labelsOf(r, issues),
        onset_date_time: onset, abatement_date_time: abatement, verification_status: isObject(verification) ? String(verification.code) : null,
      },
    };
  },
};
