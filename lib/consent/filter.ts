/**
 * Record-level filtering in SQL, derived from the policy function itself.
 *
 * For one actor, patient and category, the policy's answer depends only on
 * the record's producing organisation and its sensitivity labels, and a record
 * with labels L is visible exactly when it would be visible without labels and
 * with each label of L alone (the policy treats labels one by one). So the
 * policy is evaluated for every organisation of the registry, without labels
 * and with each known label, and the result becomes two arrays the SQL checks:
 * organisations whose unlabelled records are visible, and organisation|label
 * pairs that are open. A page of results is then a full page.
 */
import type { Actor } from '../actor.js';
import type { Category } from '../scopes.js';
import { SENSITIVITY_LABELS } from '../synthetic/codes.js';
import { decide, type PatientFacts } from './policy.js';

export interface PatientRecordFilter {
  id: string;
  /** Organisations whose unlabelled records of this category the actor may see. */
  orgs: string[];
  /** `organisation|label` pairs the actor may see. */
  pairs: string[];
}

export function recordFilter(actor: Actor, category: Category, facts: PatientFacts, organizationIds: string[], now: Date): PatientRecordFilter {
  const orgs: string[] = [];
  const pairs: string[] = [];
  const universe = new Set([...organizationIds, ...(actor.org ? [actor.org] : [])]);
  for (const organizationId of universe) {
    const record = { patientId: facts.patientId, category, organizationId, sensitivityLabels: [] as string[] };
    if (!decide(actor, record, facts, now).allow) continue;
    orgs.push(organizationId);
    for (const label of SENSITIVITY_LABELS) {
      if (decide(actor, { ...record, sensitivityLabels: [label] }, facts, now).allow) pairs.push(`${organizationId}|${label}`);
    }
  }
  return { id: facts.patientId, orgs, pairs };
}

/** The SQL condition on alias `r` for a per-patient filter row `p` (see recordFilter). */
export const recordFilterSql = (organizationColumn = 'organization_id') => `
  r.${organizationColumn} = ANY(p.orgs)
  AND NOT EXISTS (
    SELECT 1 FROM unnest(r.sensitivity_labels) AS l(label)
    WHERE (r.${organizationColumn} || '|' || l.label) <> ALL(p.pairs)
  )`;
