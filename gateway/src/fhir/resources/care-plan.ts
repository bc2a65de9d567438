/**
 * CarePlan: a plan of care for the patient (public-health, whose domain care
 * and follow-up plans are): its status and intent, categories (every coding
 * as sent), period, activities (what, where it stands, where: a logical
 * Location kept as sent), the diagnoses it addresses and the care team that
 * carries it out. Exported back as it came.
 *
 * The diagnoses are encounters' records: `addresses` names existing
 * Conditions (`Condition/<id>`, kept by id; the export links those the
 * caller may see) or Conditions of the same transaction, whose record ids the
 * coordinator puts in once encounters has staged them (`foreignLinks`). The
 * care team is public-health's own: an entry of the Bundle or an existing one.
 */
import { isUuidText } from '../../../../lib/ingest/types.js';
import { instant, isObject, labelsOf, patientLink, recordRef, EVERY_CODING, REFERENCE } from './elements.js';
import { entryLink, type FhirResourceModule, type Json, type Mapped } from './module.js';
import { encounterOf, ENCOUNTER_KEEPS, ENCOUNTER_SELECTION } from './encounter-link.js';
import { conceptOf, conceptsOf, conceptToFhir, CONCEPT_SELECTION, logicalReference, REFERENCE_SELECTION, referenceToFhir, type ConceptValue, type ReferenceValue } from './procedure.js';

/** FHIR request-status, care-plan-intent and care-plan-activity-status (required bindings). */
const STATUS = new Set(['draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error', 'unknown']);
const INTENT = new Set(['proposal', 'plan', 'order', 'option']);
const ACTIVITY_STATUS = new Set(['not-started', 'scheduled', 'in-progress', 'on-hold', 'completed', 'cancelled', 'stopped', 'unknown', 'entered-in-error']);
const MAX_LIST = 50;

export interface GqlCarePlan {
  id: string; status: string | null; intent: string | null; category: ConceptValue[] | null; period: { start: string | null; end: string | null } | null;
  activity: { code: ConceptValue | null; status: string | null; location: ReferenceValue | null }[] | null;
  addresses: ({ id: string } | null)[] | null; careTeam: { id: string }[] | null; sensitivityLabels: string[] | null; encounter?: { id: string } | null;
}

const codeIn = (value: unknown, allowed: Set<string>, issues: Parameters<NonNullable<FhirResourceModule['fromFhir']>>[2], element: string): string | null =>
  typeof value === 'string' && allowed.has(value) ? value
    : issues.add(400, value === undefined ? 'required' : 'code-invalid', `${element} is required, one of ${[...allowed].join(', ')}`, element) ?? null;

export const carePlan: FhirResourceModule = {
  resourceType: 'CarePlan',
  keeps: {
    identifier: { system: true, value: true }, status: true, intent: true, category: EVERY_CODING, subject: REFERENCE, period: { start: true, end: true },
    activity: { detail: { code: EVERY_CODING, status: true, location: REFERENCE } },
    addresses: { reference: true },
    careTeam: { $max: 1, reference: true },
    encounter: ENCOUNTER_KEEPS,
  },
  exports: [{
    from: 'carePlans',
    select: () => ({
      carePlans: `id status intent category ${CONCEPT_SELECTION} period { start end } activity { code ${CONCEPT_SELECTION} status location ${REFERENCE_SELECTION} }
    addresses { id } careTeam { id } sensitivityLabels ${ENCOUNTER_SELECTION}`,
    }),
    toFhir(p: GqlCarePlan, x) {
      // status and intent are required: without them (withheld) the resource would not be valid.
      if (!p.status || !p.intent) return x.withheld();
      const addresses = (p.addresses ?? []).map((c) => x.link('Condition', c?.id)).filter(Boolean);
      const teams = (p.careTeam ?? []).map((t) => x.link('CareTeam', t.id)).filter(Boolean);
      return {
        resourceType: 'CarePlan',
        id: p.id,
        meta: x.meta(p, p.sensitivityLabels),
        status: p.status,
        intent: p.intent,
        category: p.category?.map(conceptToFhir),
        subject: x.patientRef,
        // Linked only where the caller may see the encounter (it is then in the export).
        encounter: x.link('Encounter', p.encounter?.id),
        period: p.period ? { start: p.period.start, end: p.period.end } : undefined,
        careTeam: teams.length ? teams : undefined,
        addresses: addresses.length ? addresses : undefined,
        activity: p.activity?.map((a) => ({ detail: { code: conceptToFhir(a.code), status: a.status, location: referenceToFhir(a.location) } })),
      };
    },
  }],
  fromFhir(r, context, issues): Mapped {
    const period = isObject(r.period) ? r.period : r.period === undefined ? null : issues.add(400, 'structure', 'period must be a Period', 'period') ?? null;
    // Its place on the timeline: when the plan starts.
    const start = instant(period?.start, issues, 'period.start', true);
    const end = period ? instant(period.end, issues, 'period.end') : null;
    if (start && end && end < start) issues.add(400, 'invalid', 'period.end is before its start (per-1)', 'period.end');
    const list = (element: string): unknown[] => {
      const value = r[element];
      if (value === undefined) return [];
      if (!Array.isArray(value)) return issues.add(400, 'structure', `${element} must be a list`, element) ?? [];
      if (value.length > MAX_LIST) issues.add(400, 'value', `At most ${MAX_LIST} items`, element);
      return value.slice(0, MAX_LIST);
    };
    const addresses = list('addresses').map((reference, n) => {
      const at = `addresses[${n}]`;
      const ref = isObject(reference) ? reference.reference : undefined;
      const target = typeof ref === 'string' ? context.fullUrls.get(ref) : undefined;
      if (target) {
        // A Condition of this Bundle (encounters' entry): the coordinator puts in its record id once encounters staged it.
        if (context.independent) return issues.add(400, 'invalid', 'Entries of a batch are independent: reference existing records, not other entries', at) ?? null;
        if (target.resourceType !== 'Condition') return issues.add(400, 'invalid', `${at} must reference a Condition`, at) ?? null;
        return entryLink(target.index);
      }
      const match = typeof ref === 'string' ? /^Condition\/([0-9a-fA-F-]{36})$/.exec(ref) : null;
      if (!match || !isUuidText(match[1])) return issues.add(400, 'invalid', `${at} must reference an existing Condition (Condition/<id>)`, at) ?? null;
      return match[1]!.toLowerCase();
    }).filter((id): id is string => Boolean(id));
    const teams = list('careTeam');
    const team = teams.length ? recordRef(teams[0], ['CareTeam'], context, issues, 'careTeam[0]') : null;
    // The encounter (encounters' record): an existing one by id, one of this Bundle through the coordinator (encounter-link.ts).
    const encounter = encounterOf(r.encounter, context, issues);
    const foreignLinks = [...(addresses.some((id) => id.startsWith('entry:')) ? [{ column: 'addresses_condition_ids', expression: 'addresses' }] : []), ...(encounter.foreignLinks ?? [])];
    return {
      recordType: 'CarePlan', kind: 'carePlan', refs: team ? { careTeam: team } : {},
      ...(foreignLinks.length ? { foreignLinks } : {}), patient: patientLink(r.subject, context, issues, 'subject'), patientElement: 'subject',
      record: {
        status: codeIn(r.status, STATUS, issues, 'status'),
        intent: codeIn(r.intent, INTENT, issues, 'intent'),
        categories: conceptsOf(r.category, issues, 'category'),
        period_start: start,
        period_end: end,
        activities: list('activity').map((item, n) => {
          const at = `activity[${n}]`;
          const activity: Json = isObject(item) ? item : (issues.add(400, 'structure', `${at} must be an activity`, at), {});
          const detail: Json = isObject(activity.detail) ? activity.detail : (issues.add(400, 'required', `${at}.detail is required: the activity planned`, `${at}.detail`), {});
          return {
            code: conceptOf(detail.code, issues, `${at}.detail.code`),
            status: codeIn(detail.status, ACTIVITY_STATUS, issues, `${at}.detail.status`),
            location: logicalReference(detail.location, ['Location'], issues, `${at}.detail.location`),
          };
        }),
        addresses_condition_ids: addresses,
        encounter_id: encounter.encounterId,
        sensitivity_labels: labelsOf(r, issues),
      },
    };
  },
};
