/**
 * What operators see when the server itself fails (README "When something
 * fails"), through the gateway over real HTTP with real databases:
 *
 * - a server-side failure (a table renamed under a running subgraph) is
 *   logged by the service it happened in, at level error, with the request
 *   id of the response (`x-request-id`) and the stack; the client gets the
 *   masked INTERNAL_SERVER_ERROR, no stack, no SQL, and the log no patient id;
 * - a subgraph whose PostgreSQL database is unreachable is not ready (503),
 *   nor is the gateway; both are ready again once the database is back.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 4;
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
/** A result of a patient registered where it was produced: the staff there read it. */
const owner = bundles.find((b) => b.observations.some((o) => o.sensitivityLabels.length === 0
  && b.patient.identifiers.some((i) => i.type === 'MR' && i.assignerOrganizationId === o.organizationId)))!;
const result = owner.observations.find((o) => o.sensitivityLabels.length === 0
  && owner.patient.identifiers.some((i) => i.type === 'MR' && i.assignerOrganizationId === o.organizationId))!;

const LOOKUP = 'query Lookup($id: ID!) { observation(id: $id) { id code { code } } }';

describe.each(BACKENDS)('server failures on %s', (backend) => {
  let stack: TestStack;
  let clinician: string;

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: PATIENTS, logs: true });
    clinician = await stack.token({ sub: 'dr-ops', role: 'clinician', org: result.organizationId });
  });
  afterAll(async () => stack?.close());

  it('logs a failure of its own with the response\'s request id and the stack, and tells the client only that it failed', async () => {
    const before = await stack.graphql(clinician, LOOKUP, { id: result.id });
    expect(before.errors, JSON.stringify(before.errors)).toBeUndefined();
    expect(before.data.observation.id).toBe(result.id);

    await stack.databases.labs.query('ALTER TABLE observation RENAME TO observation_moved_away');
    let response;
    try {
      response = await stack.graphql(clinician, LOOKUP, { id: result.id });
    } finally {
      await stack.databases.labs.query('ALTER TABLE observation_moved_away RENAME TO observation');
    }
    // The client: its request id, the masked failure, nothing of the server's insides.
    expect(response.requestId).toBeTruthy();
    expect(response.status).toBe(200); // a response with data (null where it failed) is 200, its errors beside it
    expect(response.data?.observation ?? null).toBeNull();
    expect(response.errors?.map((e) => [e.message, e.extensions?.code])).toEqual([['Internal server error', 'INTERNAL_SERVER_ERROR']]);
    expect(JSON.stringify(response)).not.toMatch(/observation_moved_away|relation|\n\s+at |stacktrace/);

    // The log: labs, where it failed, says so at level error, under the same request id, with the stack.
    const lines = stack.logLines();
    const failures = lines.filter((line) => line.service === 'labs' && line.level === 'error' && line.rid === response.requestId);
    expect(failures.length, JSON.stringify(lines.filter((line) => line.rid === response.requestId))).toBeGreaterThan(0);
    const failure = failures[0]!;
    expect(typeof failure.err?.stack).toBe('string');
    expect(failure.err!.stack).toMatch(/observation/); // the database's own message: what an operator needs
    expect(failure.err!.stack).toMatch(/\n\s+at /);
    // The request line of the same request, in labs, names the failure's code.
    expect(lines.find((line) => line.service === 'labs' && line.msg === 'request' && line.rid === response.requestId)?.codes).toContain('INTERNAL_SERVER_ERROR');
    // The failure before it was not logged as one; and no line names the patient.
    expect(lines.filter((line) => line.level === 'error' && line.rid === before.requestId)).toEqual([]);
    expect(JSON.stringify(lines)).not.toContain(owner.patient.id);

    // The table back, the lookup works again.
    expect((await stack.graphql(clinician, LOOKUP, { id: result.id })).data.observation.id).toBe(result.id);
  });

  it.runIf(backend === 'postgres')('answers /ready 503 while its database refuses connections, on the subgraph and the gateway, and 200 once it is back', async () => {
    const readiness = async (url: string) => {
      const response = await fetch(url.replace(/\/graphql$/, '/ready'), { signal: AbortSignal.timeout(15_000) });
      return { status: response.status, body: await response.json() as { status: string; subgraphs?: Record<string, string> } };
    };
    const labs = stack.subgraphs.labs.url;
    const [{ name }] = await stack.databases.labs.query<{ name: string }>('SELECT current_database() AS name');
    expect(name).toMatch(/^fpr_test_\w+_labs$/);
    expect((await readiness(labs)).status).toBe(200);
    expect((await readiness(stack.url)).status).toBe(200);

    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    try {
      // The database goes away: no new connections, and those the pool holds are cut.
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      const { rowCount } = await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
      expect(rowCount).toBeGreaterThan(0);

      const down = await readiness(labs);
      expect(down).toEqual({ status: 503, body: expect.objectContaining({ status: 'unavailable', ready: false }) });
      const gateway = await readiness(stack.url);
      expect(gateway.status).toBe(503);
      expect(gateway.body.subgraphs).toEqual({ identity: 'ready', encounters: 'ready', labs: 'status 503', imaging: 'ready', 'public-health': 'ready' });
      // Liveness is not readiness: the process still runs.
      expect((await fetch(labs.replace(/\/graphql$/, '/health'))).status).toBe(200);
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    // Back: the pool opens new connections (a probe or two may still meet a cut one).
    let back = 0;
    for (let attempt = 0; attempt < 20 && back !== 200; attempt++) {
      back = (await readiness(labs)).status;
      if (back !== 200) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(back).toBe(200);
    expect((await readiness(stack.url)).status).toBe(200);
    expect((await stack.graphql(clinician, LOOKUP, { id: result.id })).data.observation.id).toBe(result.id);
  });
});
