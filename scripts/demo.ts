/**
 * What `npm start` tells a newcomer: the anchor of a new demo set (the day it
 * first seeds, or DEMO_ANCHOR), and the example patient and clinician it
 * prints, chosen so that the README's queries (the chart, the timeline,
 * equivalent results within 90 and 180 days) have something to show them.
 */
import type { Database } from '../lib/runtime/db.js';
import type { SubgraphName } from '../lib/runtime/services.js';
import { anchorTime, todayAnchor, type Anchor } from '../lib/synthetic/generator.js';
import { demoClinicianClaims, type DemoExample } from '../gateway/src/explorer.js';

export { demoClinicianClaims, type DemoExample };

/** The anchor of a demo set seeded now: DEMO_ANCHOR (YYYY-MM-DD) when set, today (UTC) otherwise. */
export function demoAnchor(env: NodeJS.ProcessEnv = process.env, now: Date = new Date()): Anchor {
  const pinned = env.DEMO_ANCHOR?.trim();
  if (!pinned) return todayAnchor(now);
  try {
    anchorTime(pinned);
  } catch {
    throw new Error(`DEMO_ANCHOR must be a calendar date, YYYY-MM-DD (got ${JSON.stringify(pinned)})`);
  }
  return pinned;
}

/** The README's result-recognition examples: a LOINC code and an imaging study, each with its look-back window. */
export const README_EXAMPLES = {
  lab: { code: '718-7', withinDays: 90 },
  imaging: { modality: 'CT', bodySite: '51185008', withinDays: 180 },
} as const;


const DAY = 86_400_000;
const CANDIDATES = 500;

/**
 * The example patient: among (the first few hundred) patients registered at a
 * county hospital, adults first (a clinician trying the product recognises an
 * adult's history; the demo's children are under seven), the first whose own hospital holds what the README's
 * examples ask for, in that hospital clinician's view: a result of the
 * example LOINC code within its window and an imaging study like the
 * example's within its window (both when one patient has them, else
 * either), else simply the first. Read from the databases, so it works on any
 * data set, and costs a few indexed statements.
 */
export async function demoExample(databases: Record<SubgraphName, Database>, now: Date = new Date()): Promise<DemoExample | null> {
  const candidates = await databases.identity.query<{ patient_id: string; organization_id: string }>(
    `SELECT i.patient_id, i.assigner_organization_id AS organization_id FROM patient_identifier i
     JOIN organization o ON o.id = i.assigner_organization_id AND o.type = 'county-hospital'
     JOIN patient p ON p.id = i.patient_id
     WHERE i.type = 'MR'
     ORDER BY (p.birth_date > ($1::timestamptz - interval '18 years')::date) NULLS LAST, i.patient_id, i.assigner_organization_id LIMIT ${CANDIDATES}`,
    [now.toISOString()]);
  if (candidates.length === 0) return null;
  const ids = [...new Set(candidates.map((c) => c.patient_id))];
  const { lab, imaging } = README_EXAMPLES;
  const [labs, studies] = await Promise.all([
    databases.labs.query<{ patient_id: string; organization_id: string }>(
      `SELECT DISTINCT patient_id, organization_id FROM observation
       WHERE patient_id = ANY($1::uuid[]) AND code = $2 AND status IN ('final', 'amended', 'corrected') AND effective >= $3`,
      [ids, lab.code, new Date(now.getTime() - lab.withinDays * DAY).toISOString()]),
    databases.imaging.query<{ patient_id: string; organization_id: string }>(
      `SELECT DISTINCT patient_id, organization_id FROM imaging_study
       WHERE patient_id = ANY($1::uuid[]) AND modality = $2 AND body_site = $3 AND started >= $4`,
      [ids, imaging.modality, imaging.bodySite, new Date(now.getTime() - imaging.withinDays * DAY).toISOString()]),
  ]);
  const key = (row: { patient_id: string; organization_id: string }) => `${row.patient_id}|${row.organization_id}`;
  const withLab = new Set(labs.map(key));
  const withStudy = new Set(studies.map(key));
  const best = candidates.find((c) => withLab.has(key(c)) && withStudy.has(key(c)))
    ?? candidates.find((c) => withLab.has(key(c)) || withStudy.has(key(c)))
    ?? candidates[0]!;
  return { patientId: best.patient_id, organizationId: best.organization_id };
}
