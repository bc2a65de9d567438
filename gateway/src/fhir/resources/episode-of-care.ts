/** EpisodeOfCare: a patient's enrolment in a public-health programme (public-health), the programme a product-local code. */
import type { GqlOrganization, GqlPeriod, GqlProgram } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import {
  codingOf, instant, labelsOf, ORGANIZATION_FIELDS, ownOrganization, patientLink, text, ONE_CODING, REFERENCE,
} from './elements.js';
import type { FhirResourceModule, Mapped } from './module.js';

export const EPISODE_STATUS = new Set(['planned', 'waitlist', 'active', 'onhold', 'finished', 'cancelled', 'entered-in-error']);

export interface GqlEnrollment {
  id: string; status: string | null; period: GqlPeriod | null; program: GqlProgram | null; organization: GqlOrganization | null;
  sensitivityLabels: string[] | null;
}

export const episodeOfCare: FhirResourceModule = {
  resourceType: 'EpisodeOfCare',
  keeps: {
    identifier: { system: true, value: true }, status: true, type: { $max: 1, ...ONE_CODING }, patient: REFERENCE, managingOrganization: REFERENCE, period: { start: true, end: true },
  },
  exports: [{
    from: 'programEnrollments',
    select: () => ({ programEnrollments: `id status period { start end } program { id code name } organization ${ORGANIZATION_FIELDS} sensitivityLabels` }),
    toFhir(e: GqlEnrollment, x) {
      if (!e.status || !EPISODE_STATUS.has(e.status)) return x.withheld();
      return {
        resourceType: 'EpisodeOfCare',
        id: e.id,
        meta: x.meta(e, e.sensitivityLabels),
        status: e.status,
        type: e.program ? [{ coding: [{ system: SYSTEMS.program, code: e.program.code, display: e.program.name }], text: e.program.name }] : undefined,
        patient: x.patientRef,
        managingOrganization: x.org(e.organization),
        period: e.period ? { start: e.period.start, end: e.period.end } : undefined,
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    ownOrganization(r.managingOrganization, context, issues, 'managingOrganization');
    const status = text(r.status, issues, 'status', { required: true });
    if (status && !EPISODE_STATUS.has(status)) issues.add(400, 'code-invalid', 'status is not an episode-of-care-status code', 'status');
    const program = codingOf(Array.isArray(r.type) ? r.type[0] : undefined, SYSTEMS.program, issues, 'type[0]', { name: 'programme', valid: (code) => /^[A-Z0-9-]{1,20}$/.test(code), required: true });
    return {
      recordType: 'ProgramEnrollment', kind: 'enrollment', refs: {}, patient: patientLink(r.patient, context, issues, 'patient'), patientElement: 'patient',
      record: {
        program: program?.code, status, period_start: instant(r.period?.start, issues, 'period.start', true), period_end: instant(r.period?.end, issues, 'period.end'),
        sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
