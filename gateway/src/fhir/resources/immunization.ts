/** Immunization: a vaccine dose given (public-health), CVX coded, with its dose number in the programme's series. */
import { SYSTEM, isCvxCode } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlOrganization, GqlProgram } from '../graphql-types.js';
import {
  CODING_FIELDS, codingOf, instant, integer, isObject, labelsOf, ORGANIZATION_FIELDS, ownOrganization, patientLink, text, withDisplay, ONE_CODING, REFERENCE,
} from './elements.js';
import type { FhirResourceModule, Mapped } from './module.js';
import { encounterOf, ENCOUNTER_KEEPS, ENCOUNTER_SELECTION } from './encounter-link.js';
import { logicalReference, REFERENCE_SELECTION, referenceToFhir, type ReferenceValue } from './procedure.js';

export const IMMUNIZATION_STATUS = new Set(['completed', 'entered-in-error', 'not-done']);

export interface GqlImmunization {
  id: string; vaccineCode: GqlCoding | null; doseNumber: number | null; lotNumber: string | null; occurrenceDateTime: string | null;
  status: string | null; organization: GqlOrganization | null; program: GqlProgram | null;
  sensitivityLabels: string[] | null; encounter?: { id: string } | null; location?: ReferenceValue | null;
}

export const immunization: FhirResourceModule = {
  resourceType: 'Immunization',
  keeps: {
    identifier: { system: true, value: true }, status: true, vaccineCode: ONE_CODING, patient: REFERENCE, occurrenceDateTime: true, primarySource: true, lotNumber: true,
    performer: { actor: REFERENCE }, encounter: ENCOUNTER_KEEPS, location: REFERENCE, protocolApplied: { $max: 1, series: true, doseNumberPositiveInt: true, doseNumberString: true },
  },
  exports: [{
    from: 'immunizations',
    select: () => ({ immunizations: `id vaccineCode ${CODING_FIELDS} doseNumber lotNumber occurrenceDateTime status organization ${ORGANIZATION_FIELDS} program { id code name } sensitivityLabels
    ${ENCOUNTER_SELECTION} location ${REFERENCE_SELECTION}` }),
    toFhir(i: GqlImmunization, x) {
      const vaccineCode = x.requiredConcept(i, 'vaccineCode', i.vaccineCode);
      if (!i.status || !IMMUNIZATION_STATUS.has(i.status) || !vaccineCode || !i.occurrenceDateTime) return x.withheld();
      return {
        resourceType: 'Immunization',
        id: i.id,
        meta: x.meta(i, i.sensitivityLabels),
        status: i.status,
        vaccineCode,
        patient: x.patientRef,
        // Linked only where the caller may see the encounter (it is then in the export).
        encounter: x.link('Encounter', i.encounter?.id),
        occurrenceDateTime: i.occurrenceDateTime,
        // Recorded by the organisation that gave the dose.
        primarySource: true,
        location: referenceToFhir(i.location),
        lotNumber: i.lotNumber,
        performer: i.organization ? [{ actor: x.org(i.organization) }] : undefined,
        protocolApplied: i.doseNumber !== null
          ? [{ series: i.program?.name, ...(i.doseNumber >= 1 ? { doseNumberPositiveInt: i.doseNumber } : { doseNumberString: String(i.doseNumber) }) }]
          : undefined,
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const status = text(r.status, issues, 'status', { required: true });
    if (r.primarySource !== undefined && r.primarySource !== true) issues.add(422, 'not-supported', 'Only primary-source immunizations are kept (primarySource true): the organisation that gave the dose publishes it', 'primarySource');
    if (status && !IMMUNIZATION_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an immunization-status code', 'status');
    const vaccine = withDisplay(codingOf(r.vaccineCode, SYSTEM.cvx, issues, 'vaccineCode', { name: 'CVX', valid: isCvxCode, required: true }));
    (Array.isArray(r.performer) ? r.performer : []).forEach((p: unknown, n: number) => ownOrganization(isObject(p) ? p.actor : undefined, context, issues, `performer[${n}].actor`, true));
    const protocol = Array.isArray(r.protocolApplied) && isObject(r.protocolApplied[0]) ? r.protocolApplied[0] : null;
    const dose = protocol?.doseNumberPositiveInt ?? (typeof protocol?.doseNumberString === 'string' && /^\d+$/.test(protocol.doseNumberString) ? Number(protocol.doseNumberString) : undefined);
    // The encounter (encounters' record): an existing one by id, one of this Bundle through the coordinator (encounter-link.ts).
    const encounter = encounterOf(r.encounter, context, issues);
    return {
      ...(encounter.foreignLinks ? { foreignLinks: encounter.foreignLinks } : {}),
      recordType: 'Immunization', kind: 'immunization', refs: {}, patient: patientLink(r.patient, context, issues, 'patient'), patientElement: 'patient',
      record: {
        vaccine_code: vaccine?.code, vaccine_display: vaccine?.display, dose_number: integer(dose, issues, 'protocolApplied[0].doseNumberPositiveInt', 1),
        lot_number: r.lotNumber === undefined ? null : text(r.lotNumber, issues, 'lotNumber', { max: 100 }), occurrence: instant(r.occurrenceDateTime, issues, 'occurrenceDateTime', true),
        status, program: typeof protocol?.series === 'string' ? protocol.series : null, sensitivity_labels: labelsOf(r, issues),
        encounter_id: encounter.encounterId, location: logicalReference(r.location, ['Location'], issues, 'location'),
      },
    };
  },
};
