/**
 * `npm run bench:replicas -- [--seconds 20] [--connections 4] [--patients 100]`:
 * the README's chart through one replica of each service (six processes,
 * scripts/process-stack.ts) and then through two replicas of each behind
 * HAProxy (scripts/replicas.ts), on the same PostgreSQL server, with the
 * replay guard on Redis in both, one after the other (never both at once:
 * they would share the machine). Closed loop: `--connections` clients each
 * sending the next chart when the last answered. Prints requests per
 * second, latency percentiles and failures of each.
 *
 * On one machine the replicas share its cores: this shows what the balancer
 * and the second set of processes cost or gain there, not what replicas on
 * separate machines would give.
 */
import { parseArgs } from 'node:util';
import { CHART_QUERY, demoPatientsOf } from './bench-chart.js';
import { startProcessStack } from './process-stack.js';
import { startReplicas } from './replicas.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '10' },
    connections: { type: 'string', default: '4' },
    patients: { type: 'string', default: '100' },
    org: { type: 'string', default: 'org-county-north' },
  },
});


const patients = demoPatientsOf(values.org, Number(values.patients));
if (patients.length === 0) throw new Error(`no patient of ${values.org} among the first ${values.patients}`);

async function load(url: string, token: string): Promise<{ rps: number; p50: number; p99: number; failures: number; requests: number }> {
  let next = 0;
  const send = async () => {
    const started = performance.now();
    const response = await fetch(url, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: CHART_QUERY, variables: { id: patients[next++ % patients.length] } }),
    }).catch(() => null);
    const body = response ? await response.json().catch(() => ({})) as { errors?: unknown; data?: { patient?: unknown } } : {};
    return { ok: Boolean(response?.ok && !body.errors && body.data?.patient), ms: performance.now() - started };
  };
  const run = async (seconds: number) => {
    const latencies: number[] = [];
    let failures = 0;
    const end = performance.now() + seconds * 1000;
    await Promise.all(Array.from({ length: Number(values.connections) }, async () => {
      while (performance.now() < end) {
        const { ok, ms } = await send();
        if (ok) latencies.push(ms); else failures++;
      }
    }));
    return { latencies, failures };
  };
  await run(Number(values.warmup));
  const seconds = Number(values.seconds);
  const { latencies, failures } = await run(seconds);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0);
  return { rps: Math.round((latencies.length / seconds) * 10) / 10, p50: at(0.5), p99: at(0.99), failures, requests: latencies.length + failures };
}

const redis = process.env.REPLAY_GUARD_REDIS_URL ?? 'redis://127.0.0.1:6379';
const adminDatabaseUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const results: Record<string, Awaited<ReturnType<typeof load>>> = {};

console.log(`chart, closed loop, ${values.connections} connections, ${values.seconds} s after ${values.warmup} s of warm-up, ${values.patients} patients on PostgreSQL, replay guard on Redis`);
{
  const stack = await startProcessStack({ backend: 'postgres', adminDatabaseUrl, patients: Number(values.patients), env: { REPLAY_GUARD_REDIS_URL: redis }, output: 'drop' });
  try {
    results['one replica of each service (6 processes)'] = await load(stack.url, await stack.token({ sub: 'bench-clinician', role: 'clinician', org: values.org }));
  } finally {
    await stack.close();
  }
}
{
  const replicas = await startReplicas({ patients: Number(values.patients), adminDatabaseUrl, redisUrl: redis, output: 'drop' });
  try {
    results['two replicas of each behind HAProxy (12 processes)'] = await load(replicas.url, await replicas.replicas[0].token({ sub: 'bench-clinician', role: 'clinician', org: values.org }));
  } finally {
    await replicas.close();
  }
}
for (const [name, r] of Object.entries(results)) {
  console.log(`${name.padEnd(52)} ${String(r.rps).padStart(6)} req/s  p50 ${r.p50} ms  p99 ${r.p99} ms  failures ${r.failures}/${r.requests}`);
}
