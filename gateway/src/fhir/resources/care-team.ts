/**
 * CareTeam: the people and organisations caring for the patient
 * (public-health, whose domain care and follow-up plans are): its status,
 * period, participants (roles with every coding as sent; members kept as
 * the references they were sent as: a practitioner by id or identifier, or
 * the publisher's own organisation), reasons and managing organisation
 * (the publisher, where named). Exported back as it came.
 */
import { instant, isObject, labelsOf, ownOrganization, patientLink, EVERY_CODING, ORGANIZATION_FIELDS, REFERENCE } from './elements.js';
import type { GqlOrganization } from '../graphql-types.js';
import type { FhirResourceModule, Json, Mapped } from './module.js';
import { encounterOf, ENCOUNTER_KEEPS, ENCOUNTER_SELECTION } from './encounter-link.js';
import { actorOf, conceptsOf, conceptToFhir, CONCEPT_SELECTION, REFERENCE_SELECTION, referenceToFhir, type ConceptValue, type ReferenceValue } from './procedure.js';

/** FHIR care-team-status (a required binding). */
const STATUS = new Set(['proposed', 'active', 'suspended', 'inactive', 'entered-in-error']);
const MAX_PARTICIPANTS = 50;

export interface GqlCareTeam {
  id: string; status: string | null; period: { start: string | null; end: string | null } | null;
  participant: { role: ConceptValue[] | null; member: ReferenceValue | null }[] | null; reasonCode: ConceptValue[] | null;
  managingOrganization: GqlOrganization | null; sensitivityLabels: string[] | null; encounter?: { id: string } | null;
}

export const careTeam: FhirResourceModule = {
  resourceType: 'CareTeam',
  keeps: {
    identifier: { system: true, value: true }, status: true, subject: REFERENCE, period: { start: true, end: true },
    participant: { role: EVERY_CODING, member: REFERENCE }, reasonCode: EVERY_CODING,
    // Only the publisher may manage it, named literally (Organization/<own id>): the export writes it so.
    managingOrganization: { $max: 1, reference: true },
    encounter: ENCOUNTER_KEEPS,
  },
  exports: [{
    from: 'careTeams',
    select: () => ({
      careTeams: `id status period { start end } participant { role ${CONCEPT_SELECTION} member ${REFERENCE_SELECTION} } reasonCode ${CONCEPT_SELECTION}
    managingOrganization ${ORGANIZATION_FIELDS} sensitivityLabels ${ENCOUNTER_SELECTION}`,
    }),
    toFhir(t: GqlCareTeam, x) {
      const managing = x.org(t.managingOrganization);
      return {
        resourceType: 'CareTeam',
        id: t.id,
        meta: x.meta(t, t.sensitivityLabels),
        status: t.status,
        subject: x.patientRef,
        // Linked only where the caller may see the encounter (it is then in the export).
        encounter: x.link('Encounter', t.encounter?.id),
        period: t.period ? { start: t.period.start, end: t.period.end } : undefined,
        participant: t.participant?.map((p) => ({ role: p.role?.map(conceptToFhir), member: referenceToFhir(p.member) })),
        reasonCode: t.reasonCode?.map(conceptToFhir),
        managingOrganization: managing ? [{ reference: managing.reference }] : undefined,
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const status = r.status === undefined ? null : typeof r.status === 'string' && STATUS.has(r.status) ? r.status
      : issues.add(400, 'code-invalid', `status must be one of ${[...STATUS].join(', ')}`, 'status') ?? null;
    const period = isObject(r.period) ? r.period : r.period === undefined ? null : issues.add(400, 'structure', 'period must be a Period', 'period') ?? null;
    // Its place on the timeline: when the team began caring for the patient.
    const start = instant(period?.start, issues, 'period.start', true);
    const end = period ? instant(period.end, issues, 'period.end') : null;
    if (start && end && end < start) issues.add(400, 'invalid', 'period.end is before its start (per-1)', 'period.end');
    const participants = r.participant === undefined ? [] : Array.isArray(r.participant) ? (r.participant as unknown[]) : issues.add(400, 'structure', 'participant must be a list', 'participant') ?? [];
    if (participants.length > MAX_PARTICIPANTS) issues.add(400, 'value', `At most ${MAX_PARTICIPANTS} participants`, 'participant');
    const managing = r.managingOrganization === undefined ? [] : Array.isArray(r.managingOrganization) ? (r.managingOrganization as unknown[])
      : issues.add(400, 'structure', 'managingOrganization must be a list', 'managingOrganization') ?? [];
    managing.forEach((reference, n) => ownOrganization(reference, context, issues, `managingOrganization[${n}]`));
    // The encounter (encounters' record): an existing one by id, one of this Bundle through the coordinator (encounter-link.ts).
    const encounter = encounterOf(r.encounter, context, issues);
    return {
      ...(encounter.foreignLinks ? { foreignLinks: encounter.foreignLinks } : {}),
      recordType: 'CareTeam', kind: 'careTeam', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        status,
        period_start: start,
        period_end: end,
        participants: participants.slice(0, MAX_PARTICIPANTS).map((item, n) => {
          const at = `participant[${n}]`;
          const participant: Json = isObject(item) ? item : (issues.add(400, 'structure', `${at} must be a participant`, at), {});
          if (participant.member === undefined) issues.add(400, 'required', `${at}.member is required: who takes part`, `${at}.member`);
          return { role: conceptsOf(participant.role, issues, `${at}.role`), member: actorOf(participant.member, context, issues, `${at}.member`) };
        }),
        reason_codes: conceptsOf(r.reasonCode, issues, 'reasonCode'),
        managed_by_producer: managing.length > 0,
        encounter_id: encounter.encounterId,
        sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
