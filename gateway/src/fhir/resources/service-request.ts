/**
 * ServiceRequest: a referral between organisations (encounters). Produced by
 * the referring organisation (the publisher), addressed to the performer.
 */
import { SYSTEM, isIcd10Code } from '../../../../lib/records/terminology.js';
import type { GqlCoding, GqlOrganization } from '../graphql-types.js';
import { SYSTEMS } from '../terminology.js';
import {
  CODING_FIELDS, codingOf, concept, instant, isObject, labelsOf, ORGANIZATION_FIELDS, ownOrganization, patientLink, practitionerId, text, withDisplay, ONE_CODING, REFERENCE,
} from './elements.js';
import type { FhirResourceModule, Mapped } from './module.js';

/**
 * GraphQL ReferralStatus → FHIR request-status (ServiceRequest.status).
 * FHIR has no "declined" for the request itself: the receiver's refusal ends
 * the request, like a withdrawal, so both become `revoked`. Requested and
 * accepted referrals are both still `active` (the appointment time, when set,
 * is the occurrence).
 */
export const REFERRAL_STATUS: Record<string, string> = {
  REQUESTED: 'active',
  ACCEPTED: 'active',
  DECLINED: 'revoked',
  COMPLETED: 'completed',
  CANCELLED: 'revoked',
};
/** ServiceRequest.status → the referral workflow's status (the export maps them the other way; `active` with an appointment is accepted). */
const REFERRAL_STATUS_IN: Record<string, string> = { active: 'requested', completed: 'completed', revoked: 'cancelled' };

/** SNOMED CT category of a referral (as US Core uses for ServiceRequest). */
export const REFERRAL_CATEGORY = { system: SYSTEMS.snomed, code: '3457005', display: 'Patient referral' };

export interface GqlReferral {
  id: string; status: string | null; reason: GqlCoding | null; note: string | null; authoredOn: string | null;
  requester: GqlOrganization | null; performer: GqlOrganization | null;
  appointmentTime: string | null;
  sensitivityLabels: string[] | null;
}

export const serviceRequest: FhirResourceModule = {
  resourceType: 'ServiceRequest',
  keeps: {
    identifier: { system: true, value: true }, status: true, intent: true, category: { $max: 1, coding: { $max: 1, system: true, code: true, display: true }, text: true }, subject: REFERENCE,
    occurrenceDateTime: true, authoredOn: true, requester: REFERENCE, performer: { $max: 1, reference: true, display: true }, reasonCode: { $max: 1, ...ONE_CODING }, note: { $max: 1, text: true },
  },
  exports: [{
    from: 'referrals',
    select: () => ({ referrals: `id status reason ${CODING_FIELDS} note authoredOn requester ${ORGANIZATION_FIELDS} performer ${ORGANIZATION_FIELDS} appointmentTime sensitivityLabels` }),
    toFhir(r: GqlReferral, x) {
      if (!r.status || !REFERRAL_STATUS[r.status]) return x.withheld();
      return {
        resourceType: 'ServiceRequest',
        id: r.id,
        meta: x.meta(r, r.sensitivityLabels),
        status: REFERRAL_STATUS[r.status],
        intent: 'order',
        category: [{ coding: [REFERRAL_CATEGORY], text: REFERRAL_CATEGORY.display }],
        subject: x.patientRef,
        occurrenceDateTime: r.appointmentTime,
        authoredOn: r.authoredOn,
        // The referring organisation: referrals are between organisations in this product.
        requester: x.org(r.requester),
        performer: r.performer ? [x.org(r.performer)] : undefined,
        reasonCode: r.reason ? [concept(r.reason)] : undefined,
        note: r.note ? [{ text: r.note }] : undefined,
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const requester = isObject(r.requester) ? r.requester.reference : undefined;
    let requesterPractitioner: string | null = null;
    if (typeof requester === 'string' && requester.startsWith('Practitioner/')) requesterPractitioner = practitionerId(r.requester, issues, 'requester');
    else ownOrganization(r.requester, context, issues, 'requester');
    const performer = Array.isArray(r.performer) && isObject(r.performer[0]) ? r.performer[0].reference : undefined;
    const performerMatch = typeof performer === 'string' ? /^Organization\/([A-Za-z0-9\-.]{1,64})$/.exec(performer) : null;
    if (!performerMatch) issues.add(400, 'required', 'performer[0] must reference the Organization the patient is referred to', 'performer[0]');
    const status = text(r.status, issues, 'status', { required: true });
    if (r.intent !== undefined && r.intent !== 'order') issues.add(422, 'not-supported', 'A referral is kept as an order (intent order)', 'intent');
    const appointment = instant(r.occurrenceDateTime, issues, 'occurrenceDateTime');
    if (status && !REFERRAL_STATUS_IN[status]) issues.add(422, 'business-rule', 'A published referral is active, completed or revoked', 'status');
    const reason = Array.isArray(r.reasonCode) && r.reasonCode.length
      ? withDisplay(codingOf(r.reasonCode[0], SYSTEM.icd10, issues, 'reasonCode[0]', { name: 'ICD-10', valid: isIcd10Code })) : null;
    const authored = instant(r.authoredOn, issues, 'authoredOn', true);
    return {
      recordType: 'Referral', kind: 'referral', refs: {}, patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        requester_practitioner_id: requesterPractitioner, performer_organization_id: performerMatch?.[1],
        status: status === 'active' && appointment ? 'accepted' : REFERRAL_STATUS_IN[status ?? ''], reason_code: reason?.code ?? null, reason_display: reason?.display ?? null,
        note: Array.isArray(r.note) && typeof r.note[0]?.text === 'string' ? r.note[0].text : null, authored_on: authored, appointment_time: appointment,
        status_changed_at: authored, sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
