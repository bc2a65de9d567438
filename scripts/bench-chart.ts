/**
 * What the chart benchmarks share (`npm run bench`, bench:bulk-export,
 * bench:replicas; docs/performance.md): the longitudinal chart they read, and
 * the patients a clinician of an organisation reads it for.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from '../lib/runtime/subgraph.js';
import { DEFAULT_SEED, generatePatient, TEST_ANCHOR } from '../lib/synthetic/generator.js';
import type { ProcessStack } from './process-stack.js';

/** The longitudinal chart every chart benchmark reads, one request per patient. */
export const CHART_QUERY = `query Chart($id: ID!) { patient(id: $id) {
  id name { text } birthDate gender identifiers { system value }
  encounters(first: 20) { edges { node { id class period { start end } organization { id } reason { code display } diagnoses { code { code display } } } } }
  observations(first: 50) { edges { node { id code { code display } valueQuantity { value unit } interpretation { code } effectiveDateTime } } }
  imagingStudies(first: 10) { edges { node { id studyInstanceUid modality { code } report { impression } } } }
  immunizations(first: 20) { edges { node { id vaccineCode { code } occurrenceDateTime } } }
  homeMeasurements(first: 20) { edges { node { id kind systolic diastolic value } } }
} }`;

/** The patients registered at `org` among the first `count` of the demo set (seeded as every stack seeds it). */
export const demoPatientsOf = (org: string, count: number): string[] => Array.from({ length: count }, (_, i) => generatePatient(DEFAULT_SEED, i, TEST_ANCHOR))
  .filter((b) => b.patient.identifiers.some((i) => i.assignerOrganizationId === org)).map((b) => b.patient.id);

/**
 * The patients registered at `org` in a stack: of the demo set's first `count`, or, on the large set (seed:large, its
 * patients not known in advance), up to 5,000 read from identity's database.
 */
export async function patientsOf(stack: ProcessStack, org: string, options: { large?: boolean; count: number }): Promise<string[]> {
  if (!options.large) return demoPatientsOf(org, options.count);
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: stack.databaseUrls.identity });
  await client.connect();
  const { rows } = await client.query<{ patient_id: string }>('SELECT patient_id FROM patient_identifier WHERE assigner_organization_id = $1 ORDER BY patient_id LIMIT 5000', [org]);
  await client.end();
  return rows.map((r) => r.patient_id);
}

/** The product compiled as the image runs it (`npm run build`'s compiler settings) into .data/bench-build; its directory. */
export function compileProduct(): string {
  const out = path.join(ROOT, '.data', 'bench-build');
  mkdirSync(out, { recursive: true });
  execFileSync(process.execPath, [createRequire(import.meta.url).resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', out], { cwd: ROOT, stdio: 'inherit' });
  return out;
}
