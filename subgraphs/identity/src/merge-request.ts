/**
 * A sending system's request to merge two of its patients (HL7 v2 ADT^A40):
 * never a silent merge. The two patients, found by identifiers the calling
 * organisation registered them with, become a match candidate
 * (`patient_match_candidate`, mpi.ts) that administrators confirm (LINK: the
 * merged-away patient joins the survivor) or refuse (DISTINCT).
 */
import { randomUUID } from 'node:crypto';
import type { Database } from '../../../lib/runtime/db.js';
import { badInput } from '../../../lib/runtime/errors.js';

interface Identifier {
  system: string;
  value: string;
}

const identifiersOf = (value: unknown): Identifier[] => {
  if (!Array.isArray(value) || !value.length || value.length > 10) throw badInput('Malformed merge request');
  return value.map((i) => {
    if (!i || typeof i.system !== 'string' || typeof i.value !== 'string' || i.system.length > 500 || i.value.length > 200 || /\u0000/.test(i.system + i.value)) throw badInput('Malformed merge request');
    return { system: i.system, value: i.value };
  });
};

export type MergeOutcome = 'candidate' | 'already-candidate' | 'same-patient' | 'unknown-survivor' | 'unknown-prior';

/**
 * `{ find }`: the patient the organisation registered under these
 * identifiers (an ADT^A08 updates that patient's registration), or null.
 * `{ survivor, prior }`: records the merge request as a match candidate and
 * answers what happened.
 */
export async function requestMerge(db: Database, organizationId: string, body: unknown): Promise<{ outcome?: MergeOutcome; candidateId?: string | null; patientId?: string | null }> {
  const request = (body ?? {}) as { survivor?: unknown; prior?: unknown; find?: unknown };
  if (request.find !== undefined) return { patientId: await patientOf(db, organizationId, identifiersOf(request.find)) };
  const survivor = identifiersOf(request.survivor);
  const prior = identifiersOf(request.prior);
  const find = (identifiers: Identifier[]) => patientOf(db, organizationId, identifiers);
  const survivorId = await find(survivor);
  if (!survivorId) return { outcome: 'unknown-survivor', candidateId: null };
  const priorId = await find(prior);
  if (!priorId) return { outcome: 'unknown-prior', candidateId: null };
  if (priorId === survivorId) return { outcome: 'same-patient', candidateId: null };
  const reason = `Merge requested by ${organizationId} (HL7 v2 ADT^A40): ${prior.map((i) => i.value).join(', ')} into ${survivor.map((i) => i.value).join(', ')}`;
  const [created] = await db.query<{ id: string }>(
    `INSERT INTO patient_match_candidate (id, patient_id, candidate_patient_id, reason) VALUES ($1, $2, $3, $4)
     ON CONFLICT (patient_id, candidate_patient_id) DO NOTHING RETURNING id`, [randomUUID(), priorId, survivorId, reason.slice(0, 1000)]);
  if (created) return { outcome: 'candidate', candidateId: String(created.id) };
  const [existing] = await db.query<{ id: string }>('SELECT id FROM patient_match_candidate WHERE patient_id = $1 AND candidate_patient_id = $2', [priorId, survivorId]);
  return { outcome: 'already-candidate', candidateId: existing ? String(existing.id) : null };
}

/** The patient (the survivor of an earlier merge, for a merged-away one) the organisation registered under these identifiers; null if none or several. */
async function patientOf(db: Database, organizationId: string, identifiers: Identifier[]): Promise<string | null> {
  const rows = await db.query<{ id: string }>(
    `SELECT DISTINCT COALESCE(p.merged_into, p.id) AS id FROM patient_identifier i
     JOIN jsonb_to_recordset($2::jsonb) AS w(system text, value text) ON i.system = w.system AND i.value = w.value
     JOIN patient p ON p.id = i.patient_id
     WHERE EXISTS (SELECT 1 FROM patient_registration r WHERE r.patient_id = i.patient_id AND r.organization_id = $1)`,
    [organizationId, JSON.stringify(identifiers)]);
  return rows.length === 1 ? String(rows[0]!.id) : null;
}
