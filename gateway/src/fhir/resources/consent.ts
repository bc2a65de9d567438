/**
 * Consent: a patient's consent directive (identity), read as FHIR R4
 * Consent — a privacy consent (scope patient-privacy, category LOINC
 * 59284-0) whose one provision permits or denies the named actor the data
 * categories, for the purposes and labels it names, over its period.
 *
 * Served by FHIR read and search only (gateway/src/fhir/search/): the
 * directives are the patient's `consents` list, not a connection of the
 * export, and are recorded through GraphQL (grantConsent, the SMART approval
 * screen), not published by institutions.
 */
import { CATEGORY_LABELS, categoryFromEnum, type Category } from '../../../../lib/consent/categories.js';
import type { GqlOrganization } from '../graphql-types.js';
import { SYSTEMS, securityLabels } from '../terminology.js';
import { ORGANIZATION_FIELDS } from './elements.js';
import type { FhirResourceModule, Resource } from './module.js';

export interface GqlConsentDirective {
  id: string; decision: 'PERMIT' | 'DENY' | null; actorType: 'ORGANIZATION' | 'PRACTITIONER' | 'APP' | 'ALLIANCE' | null; actorId: string | null;
  categories: string[] | null; labels: string[] | null; purposes: string[] | null; periodStart: string | null; periodEnd: string | null;
  createdAt: string | null; revokedAt: string | null; lastUpdated?: string | null; status: 'PENDING' | 'ACTIVE' | 'DECLINED' | null; active: boolean | null;
  recordedAtOrganization: GqlOrganization | null; app: { clientId: string; name: string } | null;
}

/** The directive's fields the FHIR Consent is built from. */
export const CONSENT_FIELDS = `id lastUpdated decision actorType actorId categories labels purposes periodStart periodEnd createdAt revokedAt status active
  recordedAtOrganization ${ORGANIZATION_FIELDS} app { clientId name }`;

const CONSENT_SCOPE = { system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy', display: 'Privacy Consent' };
const CONSENT_CATEGORY = { system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' };
const ACT_CODE = SYSTEMS.actCode;
const PURPOSE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActReason';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
/** The product's consent categories (lib/consent/categories.ts): no standard code system names them. */
export const DATA_CATEGORY_SYSTEM = 'https://fhir.alliance.example.org/CodeSystem/data-category';

/** Directive status → FHIR consent-state-codes. */
function stateOf(c: GqlConsentDirective): string {
  if (c.revokedAt) return 'inactive';
  if (c.status === 'DECLINED') return 'rejected';
  if (c.status === 'PENDING') return 'proposed';
  return c.active === false ? 'inactive' : 'active';
}

/** The actor the provision names: a reference where FHIR has a resource for it, a display otherwise. */
function actorOf(c: GqlConsentDirective): Record<string, unknown> | undefined {
  const role = { coding: [{ system: PARTICIPATION, code: 'IRCP', display: 'information recipient' }] };
  switch (c.actorType) {
    case 'ORGANIZATION': return c.actorId ? { role, reference: { reference: `Organization/${c.actorId}` } } : undefined;
    case 'PRACTITIONER': return c.actorId ? { role, reference: { reference: `Practitioner/${c.actorId}` } } : undefined;
    case 'APP': return { role, reference: { display: c.app ? `${c.app.name} (${c.app.clientId})` : `App ${c.actorId ?? ''}`.trim() } };
    case 'ALLIANCE': return { role, reference: { display: 'Every organisation of the alliance' } };
    default: return undefined;
  }
}

export function consentToFhir(c: GqlConsentDirective, patientRef: { reference: string }): Resource {
  const categories = (c.categories ?? []).map((value) => {
    const category: Category = categoryFromEnum(value);
    return { system: DATA_CATEGORY_SYSTEM, code: category, display: CATEGORY_LABELS[category] };
  });
  const actor = actorOf(c);
  return {
    resourceType: 'Consent',
    id: c.id,
    // When the directive last changed (confirmed, revoked): its owner's time, as every exported record's.
    meta: c.lastUpdated ? { lastUpdated: new Date(c.lastUpdated).toISOString() } : undefined,
    status: stateOf(c),
    scope: { coding: [CONSENT_SCOPE] },
    category: [{ coding: [CONSENT_CATEGORY] }],
    patient: patientRef,
    dateTime: c.createdAt,
    organization: c.recordedAtOrganization ? [{ reference: `Organization/${c.recordedAtOrganization.id}`, display: c.recordedAtOrganization.name }] : undefined,
    policyRule: { coding: [c.decision === 'DENY' ? { system: ACT_CODE, code: 'OPTOUT', display: 'opt-out' } : { system: ACT_CODE, code: 'OPTIN', display: 'opt-in' }] },
    provision: {
      type: c.decision === 'DENY' ? 'deny' : 'permit',
      period: c.periodStart || c.periodEnd ? { start: c.periodStart, end: c.periodEnd } : undefined,
      actor: actor ? [actor] : undefined,
      purpose: (c.purposes ?? []).map((code) => ({ system: PURPOSE_SYSTEM, code })),
      securityLabel: securityLabels(c.labels ?? []),
      class: categories,
    },
  };
}

export const consent: FhirResourceModule = { resourceType: 'Consent' };
