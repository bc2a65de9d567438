/**
 * What the replay guard of internal tokens costs per internal call: one
 * process's memory against the shared guard on Redis (lib/trust/replay-guard.ts),
 * one check at a time and 32 at once (a gateway fanning a request out).
 *
 *   npm run bench:replay-guard -- [--checks 20000] [--redis redis://127.0.0.1:6379]
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ProcessReplayGuard, RedisReplayGuard, type ReplayGuard } from '../lib/trust/replay-guard.js';

const { values } = parseArgs({ options: { checks: { type: 'string', default: '20000' }, redis: { type: 'string', default: process.env.REPLAY_GUARD_REDIS_URL ?? 'redis://127.0.0.1:6379' } } });
const checks = Number(values.checks);
if (!Number.isInteger(checks) || checks < 100) throw new Error('--checks must be an integer of at least 100');

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function measure(name: string, guard: ReplayGuard, concurrency: number) {
  const exp = Math.floor(Date.now() / 1000) + 30;
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < checks) {
      next += 1;
      const t = performance.now();
      if (!(await guard.accept(randomUUID(), exp))) throw new Error('a fresh token was refused');
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(`${name.padEnd(28)} concurrency ${String(concurrency).padStart(2)}  ${Math.round(checks / seconds).toLocaleString('en').padStart(9)} checks/s  p50 ${percentile(latencies, 50).toFixed(3)} ms  p99 ${percentile(latencies, 99).toFixed(3)} ms`);
}

const processGuard = new ProcessReplayGuard();
const redisGuard = await RedisReplayGuard.connect(values.redis!, `bench-${randomUUID()}`);
console.log(`${checks} checks each, Node ${process.version}`);
for (const concurrency of [1, 32]) {
  await measure('process memory', processGuard, concurrency);
  await measure(`Redis (${new URL(values.redis!).host})`, redisGuard, concurrency);
}
await redisGuard.close();
