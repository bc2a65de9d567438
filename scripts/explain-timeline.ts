/**
 * `npx tsx scripts/explain-timeline.ts [--patients 5] [--first 50] [--per-kind] [--database-prefix fpr_] [--out plans.txt]`
 *
 * The query plans of a timeline page of the large set (seed:large): for each
 * owner, the statements /internal/timeline runs for one patient (built by the
 * product's own ownerTimeline, so the SQL is the product's), run as the
 * product runs them (named prepared statements, executed until PostgreSQL may
 * settle on a generic plan) under EXPLAIN (ANALYZE, BUFFERS), then the lookups
 * by id that resolve the page's nodes. `--per-kind`: the statements before
 * timelineKeysSql (one selectPatientPages per kind, whole rows), to compare. The consent filter lets every
 * organisation's unlabelled and labelled records through (a clinician the
 * patient authorised everywhere): the widest page, the most work.
 *
 * Databases: <SUBGRAPH>_DATABASE_URL, or <prefix><subgraph> on SEED_POSTGRES_URL (fpr_ unless --database-prefix), as seed:large.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { ConsentAccess } from '../lib/consent/access.js';
import { SENSITIVITY_LABELS } from '../lib/records/terminology.js';
import { ownerTimeline, timelineSources, TIMELINE_KINDS, TIMELINE_KIND_TYPES, type TimelineEntryKey } from '../lib/records/timeline.js';
import { RECORD_TYPES, type RecordTypeFacts } from '../lib/records/record-types.js';
import { selectPatientPages } from '../lib/records/connection.js';
import type { Queryable } from '../lib/runtime/db.js';
import { SUBGRAPH_NAMES, SUBGRAPHS, type SubgraphName } from '../lib/runtime/services.js';
import { largeSetUrls } from './large-set.js';

const { values } = parseArgs({ options: { 'per-kind': { type: 'boolean', default: false }, patients: { type: 'string', default: '5' }, first: { type: 'string', default: '50' }, out: { type: 'string' }, 'database-prefix': { type: 'string', default: 'fpr_' } } });
const largeSet = largeSetUrls(values['database-prefix']);
const urlOf = (name: SubgraphName) => process.env[`${SUBGRAPHS[name].envPrefix}_DATABASE_URL`] || largeSet[name];

const clients = Object.fromEntries(await Promise.all(SUBGRAPH_NAMES.map(async (name) => {
  const client = new pg.Client({ connectionString: urlOf(name) });
  await client.connect();
  return [name, client] as const;
}))) as Record<SubgraphName, pg.Client>;
const lines: string[] = [];
const say = (line: string) => {
  lines.push(line);
  console.log(line);
};

const organizations = (await clients.identity.query<{ id: string }>('SELECT id FROM organization ORDER BY id')).rows.map((r) => r.id);
// Patients with a long history (the benchmark's patients are taken in uuid order from one organisation).
const patients = (await clients.identity.query<{ id: string }>('SELECT id FROM patient ORDER BY id LIMIT $1', [Number(values.patients)])).rows.map((r) => r.id);
say(`# timeline plans: ${(await clients.identity.query<{ n: string }>('SELECT count(*) AS n FROM patient')).rows[0]!.n} patients, a page of ${values.first}, ${patients.length} patients`);

/** A consent access that lets every organisation's records through, labelled or not. */
const wideOpen = {
  actor: { kind: 'clinician', sub: 'explain', org: organizations[0], roles: ['clinician'], scope: 'user/*.read' },
  filters: async (_category: string, patientIds: string[]) => patientIds.map((id) => ({
    id, orgs: organizations, pairs: organizations.flatMap((o) => SENSITIVITY_LABELS.map((l) => `${o}|${l}`)), bg_orgs: [],
  })),
  decide: () => ({ allow: true, breakGlass: false }),
} as unknown as ConsentAccess;

let prepared = 0;
async function explain(client: pg.Client, sql: string, params: unknown[]): Promise<{ plan: string; ms: number }> {
  const name = `explain_${prepared++}`;
  // As the product runs it: a named statement, executed six times (PostgreSQL may keep a generic plan from the sixth).
  for (let i = 0; i < 6; i++) await client.query({ name, text: sql, values: params });
  const literal = params.map((p) => (p === null ? 'NULL' : `'${String(p).replace(/'/g, "''")}'`));
  await client.query(`PREPARE ${name}_x AS ${sql}`);
  const started = performance.now();
  const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE ${name}_x(${literal.join(', ')})`);
  const ms = performance.now() - started;
  await client.query(`DEALLOCATE ${name}_x`);
  return { plan: rows.map((r) => r['QUERY PLAN']).join('\n'), ms };
}

const owners = [...new Set(RECORD_TYPES.map((row) => row.owner))];
const totals: Record<string, { statements: number; ms: number; buffers: number }> = {};
for (const [p, patientId] of patients.entries()) {
  const entries: TimelineEntryKey[] = [];
  for (const owner of owners) {
    const statements: { sql: string; params: unknown[] }[] = [];
    const capture: Queryable = {
      query: async <T,>(sql: string, params: unknown[] = []) => {
        statements.push({ sql, params });
        const { rows } = await clients[owner].query(sql, params);
        return rows as T[];
      },
    };
    const answer = await ownerTimeline(values['per-kind'] ? { query: async () => [] } : capture, wideOpen, timelineSources(owner), { patientIds: [patientId], kinds: [...TIMELINE_KINDS], first: Number(values.first), after: null, from: null, to: null });
    entries.push(...answer.patients[0]!.entries);
    if (values['per-kind']) {
      // As before: one statement per kind, whole rows.
      for (const source of timelineSources(owner)) {
        const page = { first: Number(values.first), after: null, from: null, to: null };
        const rows = await selectPatientPages<Record<string, any>>(capture, source, await wideOpen.filters(source.category, [patientId], source.resourceType), page);
        entries.push(...rows.map((row) => ({ kind: source.kind, id: String(row.id), time: new Date(row[source.timeColumn]).toISOString(), category: source.category, breakGlass: false })));
      }
    }
    for (const statement of statements) {
      const { plan } = await explain(clients[owner], statement.sql, statement.params);
      const execution = Number(/Execution Time: ([\d.]+)/.exec(plan)?.[1] ?? 0);
      const buffers = [...plan.matchAll(/Buffers: shared (?:hit=(\d+))?\s*(?:read=(\d+))?/g)].slice(0, 1).reduce((n, m) => n + Number(m[1] ?? 0) + Number(m[2] ?? 0), 0);
      const key = `${owner} timeline`;
      totals[key] = { statements: (totals[key]?.statements ?? 0) + 1, ms: (totals[key]?.ms ?? 0) + execution, buffers: (totals[key]?.buffers ?? 0) + buffers };
      if (p === 0) say(`\n## ${owner}: ${statement.sql.replace(/\s+/g, ' ').slice(0, 160)}...\n${plan}`);
    }
  }
  // The page's nodes, resolved by id from their owners (SELECT * ... WHERE id = ANY), with their patient where the table is
  // partitioned by patient (labs' observation: the key is (patient_id, id), and the product's lookup names the patient).
  const page = entries.sort((a, b) => (a.time === b.time ? (a.id < b.id ? 1 : -1) : a.time < b.time ? 1 : -1)).slice(0, Number(values.first));
  const byTable = new Map<string, { owner: SubgraphName; ids: string[] }>();
  for (const entry of page) {
    const row = RECORD_TYPES.find((r) => r.kind === entry.kind)!;
    const owner = TIMELINE_KIND_TYPES[entry.kind].owner;
    byTable.set(row.table, { owner, ids: [...(byTable.get(row.table)?.ids ?? []), entry.id] });
  }
  for (const [table, { owner, ids }] of byTable) {
    const byPatient = (RECORD_TYPES.find((r) => r.table === table) as RecordTypeFacts | undefined)?.partitionedByPatient === true;
    const sql = byPatient ? `SELECT * FROM ${table} WHERE patient_id = ANY($2::uuid[]) AND id = ANY($1::uuid[])` : `SELECT * FROM ${table} WHERE id = ANY($1::uuid[])`;
    const { plan } = await explain(clients[owner], sql, byPatient ? [`{${ids.join(',')}}`, `{${patientId}}`] : [`{${ids.join(',')}}`]);
    const execution = Number(/Execution Time: ([\d.]+)/.exec(plan)?.[1] ?? 0);
    // Every buffer the lookup touched: found in shared buffers (hit) or read from the operating system (read).
    const buffers = [...plan.matchAll(/Buffers: shared (?:hit=(\d+))?\s*(?:read=(\d+))?/g)].slice(0, 1).reduce((n, m) => n + Number(m[1] ?? 0) + Number(m[2] ?? 0), 0);
    const key = `${owner} nodes`;
    totals[key] = { statements: (totals[key]?.statements ?? 0) + 1, ms: (totals[key]?.ms ?? 0) + execution, buffers: (totals[key]?.buffers ?? 0) + buffers };
    if (p === 0) say(`\n## ${owner} nodes: ${sql.replace('ANY($1::uuid[])', `ANY(${ids.length} ids)`)}\n${plan}`);
  }
}
say(`\n# per page (mean of ${patients.length} patients): statements, execution ms, shared buffers of the top node`);
for (const [key, t] of Object.entries(totals)) say(`${key.padEnd(24)} ${(t.statements / patients.length).toFixed(1).padStart(5)} statements ${(t.ms / patients.length).toFixed(2).padStart(8)} ms ${(t.buffers / patients.length).toFixed(0).padStart(7)} buffers`);
if (values.out) writeFileSync(values.out, lines.join('\n') + '\n');
for (const client of Object.values(clients)) await client.end();
