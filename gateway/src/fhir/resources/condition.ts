/** Condition: a diagnosis, ICD-10 coded (encounters), linked to the encounter it was made in. */
import { SYSTEM, isIcd10Code } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlOrganization } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, codingOf, concept, instant, isObject, labelsOf, ORGANIZATION_FIELDS, patientLink, recordRef, withDisplay, ONE_CODING, REFERENCE,
} from './elements.js';
import type { FhirResourceModule, Mapped } from './module.js';

const CONDITION_CLINICAL = new Set(['active', 'recurrence', 'relapse', 'inactive', 'remission', 'resolved']);

export interface GqlCondition {
  id: string; code: GqlCoding | null; clinicalStatus: string | null; recordedDate: string | null;
  encounter: { id: string } | null; organization: GqlOrganization | null; sensitivityLabels: string[] | null;
}

export const condition: FhirResourceModule = {
  resourceType: 'Condition',
  keeps: {
    identifier: { system: true, value: true },
    clinicalStatus: { coding: { $max: 1, system: true, code: true } },
    category: { $max: 1, coding: { $max: 1, system: true, code: true, display: true } },
    code: ONE_CODING, subject: REFERENCE, encounter: { reference: true }, recordedDate: true, onsetDateTime: true,
  },
  exports: [{
    from: 'conditions',
    select: () => ({ conditions: `id code ${CODING_FIELDS} clinicalStatus recordedDate encounter { id } organization ${ORGANIZATION_FIELDS} sensitivityLabels` }),
    toFhir: (c: GqlCondition, x) => ({
      resourceType: 'Condition',
      id: c.id,
      meta: x.meta(c, c.sensitivityLabels),
      clinicalStatus: c.clinicalStatus ? { coding: [{ system: SYSTEMS.conditionClinical, code: c.clinicalStatus }] } : undefined,
      category: [{ coding: [{ system: SYSTEMS.conditionCategory, code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
      code: concept(c.code),
      subject: x.patientRef,
      encounter: x.link('Encounter', c.encounter?.id),
      recordedDate: c.recordedDate,
    }),
  }],
  fromFhir(r, context, issues): Mapped {
    const code = withDisplay(codingOf(r.code, SYSTEM.icd10, issues, 'code', { name: 'ICD-10', valid: isIcd10Code, required: true }));
    const clinical = isObject(r.clinicalStatus) && Array.isArray(r.clinicalStatus.coding) ? r.clinicalStatus.coding[0]?.code : undefined;
    if (!CONDITION_CLINICAL.has(clinical)) issues.add(400, 'code-invalid', 'clinicalStatus needs a condition-clinical code (active, resolved…)', 'clinicalStatus');
    const encounter = recordRef(r.encounter, ['Encounter'], context, issues, 'encounter');
    // What the export gives back: an encounter diagnosis, filed at its recorded date (the onset stands in for it when absent).
    const category = Array.isArray(r.category) && isObject(r.category[0]) && Array.isArray(r.category[0].coding) ? r.category[0].coding[0] : undefined;
    if (category !== undefined && (category?.system !== SYSTEMS.conditionCategory || category?.code !== 'encounter-diagnosis')) {
      issues.add(422, 'not-supported', `category is kept only as encounter-diagnosis (${SYSTEMS.conditionCategory}): another would be lost`, 'category[0].coding[0]');
    }
    if (r.onsetDateTime !== undefined && r.recordedDate !== undefined && r.onsetDateTime !== r.recordedDate) {
      issues.add(422, 'not-supported', 'onsetDateTime is kept only where it is the recorded date (send recordedDate, or the onset alone)', 'onsetDateTime');
    }
    return {
      recordType: 'Condition', kind: 'condition', refs: encounter ? { encounter } : {},
      patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        code: code?.code, display: code?.display, clinical_status: clinical,
        recorded_date: instant(r.recordedDate ?? r.onsetDateTime, issues, r.recordedDate === undefined && r.onsetDateTime !== undefined ? 'onsetDateTime' : 'recordedDate', true),
        sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
