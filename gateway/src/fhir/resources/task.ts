/**
 * Task: a follow-up task for a care team (public-health). Exported only:
 * tasks are created by the programmes' follow-up rules, not published.
 */
import type { GqlOrganization, GqlProgram } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import { ORGANIZATION_FIELDS } from './elements.js';
import type { GqlEnrollment } from './episode-of-care.js';
import type { FhirResourceModule } from './module.js';

/** GraphQL TaskStatus → FHIR task-status (the product uses a subset with the same names). */
export const TASK_STATUS: Record<string, string> = { REQUESTED: 'requested', COMPLETED: 'completed', CANCELLED: 'cancelled' };

/** A task's assigned role → practitioner-role code (the product's "clinician" is FHIR's "doctor"). */
export const PERFORMER_TYPE: Record<string, { code: string; display: string }> = {
  nurse: { code: 'nurse', display: 'Nurse' },
  clinician: { code: 'doctor', display: 'Doctor' },
};

export interface GqlFollowUpTask {
  id: string; description: string | null; dueDate: string | null; status: string | null; assignedRole: string | null;
  organization: GqlOrganization | null; program: GqlProgram | null; authoredOn: string | null; ruleCode: string | null;
  sensitivityLabels: string[] | null;
}

export const task: FhirResourceModule = {
  resourceType: 'Task',
  exports: [{
    from: 'followUpTasks',
    select: () => ({ followUpTasks: `id description dueDate status assignedRole organization ${ORGANIZATION_FIELDS} program { id code name } authoredOn ruleCode sensitivityLabels` }),
    toFhir(t: GqlFollowUpTask, x) {
      const status = t.status ? TASK_STATUS[t.status] : undefined;
      if (!status) return x.withheld();
      const performerType = t.assignedRole ? PERFORMER_TYPE[t.assignedRole] : undefined;
      const enrollment = t.program ? (x.nodes.programEnrollments as GqlEnrollment[]).find((e) => e.program?.id === t.program!.id) : undefined;
      return {
        resourceType: 'Task',
        id: t.id,
        meta: x.meta(t, t.sensitivityLabels),
        status,
        intent: 'order',
        description: t.description,
        for: x.patientRef,
        authoredOn: t.authoredOn,
        // The due date: FHIR Task expresses "complete by" as restriction.period.end.
        restriction: t.dueDate ? { period: { end: t.dueDate } } : undefined,
        owner: x.org(t.organization),
        performerType: performerType ? [{ coding: [{ system: SYSTEMS.practitionerRole, code: performerType.code, display: performerType.display }] }] : undefined,
        reasonCode: t.ruleCode ? { coding: [{ system: SYSTEMS.programRule, code: t.ruleCode }] } : undefined,
        // The programme enrolment the task serves, when it is in the bundle.
        reasonReference: x.link('EpisodeOfCare', enrollment?.id),
      };
    },
  }],
};
