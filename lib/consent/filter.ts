/**
 * Record-level filtering in SQL, derived from the policy function itself.
 *
 * For one actor, patient and category, the policy's answer depends only on
 * the record's producing organisation and its sensitivity labels. Under rules
 * 1–4 and 6 a record with labels L is visible exactly when it would be visible
 * without labels and with each label of L alone (labels are checked one by
 * one), so evaluating the policy for every organisation, without labels and
 * with each known label, gives two arrays the SQL checks: organisations whose
 * unlabelled records are visible, and organisation|label pairs that are open.
 *
 * Break-glass (rule 5) is not label-by-label: it opens anything rule 4
 * closes unless the record carries V. So for a break-glass actor the pairs
 * come from rule 4 alone (the same actor without the emergency), and a third
 * array lists the organisations whose records break-glass opens when they do
 * not carry V. A page of results is then exactly what the policy allows, and
 * full.
 */
import { breaksGlass, type Actor } from '../trust/actor.js';
import type { Category } from './categories.js';
import { SENSITIVITY_LABELS } from '../records/terminology.js';
import { decide, VERY_RESTRICTED, type PatientFacts } from './policy.js';

export interface PatientRecordFilter {
  id: string;
  /** Organisations whose unlabelled records of this category the actor may see (without break-glass). */
  orgs: string[];
  /** `organisation|label` pairs the actor may see (without break-glass). */
  pairs: string[];
  /** Organisations whose records break-glass opens, unless labelled V. */
  bg_orgs: string[];
}

export function recordFilter(actor: Actor, category: Category, facts: PatientFacts, organizationIds: string[], now: Date, resourceType?: string): PatientRecordFilter {
  const breakGlass = breaksGlass(actor);
  const standard: Actor = breakGlass ? { ...actor, breakGlassReason: null } : actor;
  const orgs: string[] = [];
  const pairs: string[] = [];
  const bgOrgs: string[] = [];
  const universe = new Set([...organizationIds, ...(actor.org ? [actor.org] : [])]);
  for (const organizationId of universe) {
    const record = { patientId: facts.patientId, category, organizationId, sensitivityLabels: [] as string[], resourceType };
    if (breakGlass && decide(actor, record, facts, now).allow) bgOrgs.push(organizationId);
    if (!decide(standard, record, facts, now).allow) continue;
    orgs.push(organizationId);
    for (const label of SENSITIVITY_LABELS) {
      if (decide(standard, { ...record, sensitivityLabels: [label] }, facts, now).allow) pairs.push(`${organizationId}|${label}`);
    }
  }
  return { id: facts.patientId, orgs, pairs, bg_orgs: bgOrgs };
}

/** Whether a filter lets anything through at all. */
export const filterOpensAnything = (filter: PatientRecordFilter) => filter.orgs.length > 0 || filter.bg_orgs.length > 0;

/** The SQL condition for a per-patient filter row `p` (see recordFilter), with the producing organisation given as an SQL expression. */
const organizationFilterSql = (organization: string) => `(
  (${organization} = ANY(p.orgs)
    AND NOT EXISTS (
      SELECT 1 FROM unnest(r.sensitivity_labels) AS l(label)
      WHERE (${organization} || '|' || l.label) <> ALL(p.pairs)
    ))
  OR (${organization} = ANY(p.bg_orgs) AND NOT ('${VERY_RESTRICTED}' = ANY(r.sensitivity_labels)))
)`;

/**
 * The SQL condition on alias `r` for a per-patient filter row `p`. A record
 * addressed to other organisations (a referral's receiving organisation, the
 * organisations taking part in a remote consultation) is seen by their staff
 * as by the producer's: it passes when it would pass as produced by any of
 * them (`addresseesColumn`, a text[] column).
 */
export const recordFilterSql = (organizationColumn = 'organization_id', addresseesColumn?: string) => {
  const producer = organizationFilterSql(`r.${organizationColumn}`);
  if (!addresseesColumn) return producer;
  return `(${producer} OR EXISTS (SELECT 1 FROM unnest(r.${addresseesColumn}) AS a(org) WHERE ${organizationFilterSql('a.org')}))`;
};
