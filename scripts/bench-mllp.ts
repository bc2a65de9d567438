/**
 * `npm run bench:mllp -- [--messages 2000] [--connections 4] [--idle 100] [--database-url postgres://…]`
 *
 * Measures HL7 v2 over MLLP (gateway/src/hl7v2/mllp.ts): a stack with empty
 * databases (embedded PGlite in memory by default; with --database-url,
 * fresh PostgreSQL databases `fpr_mllp_<subgraph>` on that server, dropped
 * afterwards), the listener on a free port, and a laboratory sending
 * ORU^R01 messages (one OBX each, one patient per connection) over
 * --connections connections at once, each sending its next message when the
 * previous one's ACK came (one in flight per connection, as senders do). Prints messages per second, the ACK latency
 * (p50/p95/p99: from the write of a message to its ACK), the ACK codes, and
 * the listener's memory with --idle idle connections open (heap and
 * resident set after a garbage collection, before and after opening them).
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { generateDevKeys } from '../lib/trust/keys.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { DEFAULT_SEED, todayAnchor } from '../lib/synthetic/generator.js';
import { startStack } from './stack.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '4' },
    idle: { type: 'string', default: '100' },
    'database-url': { type: 'string' },
  },
});
process.env.LOG_LEVEL ??= 'warn';
const total = Number(values.messages);
const connections = Number(values.connections);
const idleCount = Number(values.idle);
const server = values['database-url'];
const ORG = 'org-county-north';
const SECRET = 'bench-mllp-secret';

const databaseUrls = Object.fromEntries(SUBGRAPH_NAMES.map((name) => [name, server ? server.replace(/\/[^/]*$/, `/fpr_mllp_${name.replace('-', '_')}`) : 'memory://'])) as Record<SubgraphName, string>;
if (server) {
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  for (const name of SUBGRAPH_NAMES) {
    const db = `fpr_mllp_${name.replace('-', '_')}`;
    await admin.query(`DROP DATABASE IF EXISTS ${db}`);
    await admin.query(`CREATE DATABASE ${db}`);
  }
  await admin.end();
}
const keys = await generateDevKeys('bench-mllp-');
const stack = await startStack({
  databaseUrls, keys, seedPatients: 0, seed: DEFAULT_SEED, anchor: todayAnchor(), production: false,
  mllp: { port: 0, clients: [{ clientId: `${ORG}-lis`, organizationId: ORG, sharedSecret: SECRET }] },
});
const port = stack.gateway.mllp!.port;

const connect = () => new Promise<net.Socket>((resolve, reject) => {
  const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
  socket.once('error', reject);
});
const frame = (text: string) => Buffer.concat([Buffer.from([0x0b]), Buffer.from(text, 'utf8'), Buffer.from([0x1c, 0x0d])]);
let sequence = 0;
const message = (hc: string) => {
  const control = `B${process.pid}-${++sequence}`;
  return {
    control,
    text: [
      `MSH|^~\\&|LIS|NORTH-LAB|FPR|ALLIANCE|20260301083000|${SECRET}|ORU^R01^ORU_R01|${control}|P|2.5.1`,
      `PID|1||${hc}^^^^HC~MR${hc}^^^${ORG}^MR||Zhang^San||19650412|M`,
      `OBR|1||${control}|58410-2^CBC panel^LN|||20260301080000`,
      `OBX|1|NM|718-7^Hemoglobin^LN||${(12 + (sequence % 40) / 10).toFixed(1)}|g/dL|12-17.5||||F|||20260301080000`,
    ].join('\r'),
  };
};

/** One connection sending `count` messages, one in flight at a time; resolves with each message's ACK latency (ms) and code. */
async function sender(index: number, count: number): Promise<{ latencies: number[]; codes: string[] }> {
  const socket = await connect();
  const hc = `HCBENCH${process.pid}X${index}`;
  const sentAt: number[] = [];
  const latencies: number[] = [];
  const codes: string[] = [];
  let buffer = Buffer.alloc(0);
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let end = buffer.indexOf(0x1c); end >= 0; end = buffer.indexOf(0x1c)) {
        const ack = buffer.subarray(buffer.indexOf(0x0b) + 1, end).toString('utf8');
        buffer = buffer.subarray(end + 2);
        latencies.push(performance.now() - sentAt[latencies.length]!);
        codes.push(ack.split('\r').find((l) => l.startsWith('MSA|'))?.split('|')[1] ?? '?');
        if (latencies.length === count) resolve();
        else next();
      }
    });
    socket.on('close', () => (latencies.length < count ? reject(new Error(`connection ${index} closed after ${latencies.length} ACKs`)) : undefined));
  });
  // Each message is sent when the previous one's ACK came (what MLLP senders do: one message in flight per connection).
  function next() {
    sentAt.push(performance.now());
    socket.write(frame(message(hc).text));
  }
  next();
  await done;
  socket.destroy();
  return { latencies, codes };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const gc = (globalThis as { gc?: () => void }).gc;
const memory = () => {
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
};

try {
  // Warm-up (first statements, JIT), not measured.
  await sender(-1, 20);
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: connections }, (_, i) => sender(i, Math.floor(total / connections))));
  const seconds = (performance.now() - started) / 1000;
  const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const codes = results.flatMap((r) => r.codes).reduce<Record<string, number>>((counts, code) => ({ ...counts, [code]: (counts[code] ?? 0) + 1 }), {});

  const before = memory();
  const idle = await Promise.all(Array.from({ length: idleCount }, () => connect()));
  await new Promise((resolve) => setTimeout(resolve, 200));
  const after = memory();
  const open = stack.gateway.mllp!.connections();
  for (const socket of idle) socket.destroy();

  const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
  console.log(`MLLP on ${server ? 'PostgreSQL' : 'PGlite (memory)'}: ${latencies.length} messages over ${connections} connections in ${seconds.toFixed(1)} s`);
  console.log(`  throughput:   ${(latencies.length / seconds).toFixed(1)} messages/s`);
  console.log(`  ACK latency:  p50 ${percentile(latencies, 50).toFixed(0)} ms, p95 ${percentile(latencies, 95).toFixed(0)} ms, p99 ${percentile(latencies, 99).toFixed(0)} ms`);
  console.log(`  ACK codes:    ${JSON.stringify(codes)}`);
  console.log(`  ${open} idle connections: heap ${mb(before.heap)} -> ${mb(after.heap)} MB (+${((after.heap - before.heap) / Math.max(1, open) / 1024).toFixed(1)} KB each), resident ${mb(before.rss)} -> ${mb(after.rss)} MB${gc ? '' : ' (run with node --expose-gc for exact heap figures)'}`);
  console.log(`  (the whole stack runs in this process: ${mb(after.rss)} MB resident is the gateway, the five subgraphs and their embedded databases)`);
} finally {
  await stack.close();
  if (server) {
    const admin = new pg.Client({ connectionString: server });
    await admin.connect();
    for (const name of SUBGRAPH_NAMES) await admin.query(`DROP DATABASE IF EXISTS fpr_mllp_${name.replace('-', '_')} WITH (FORCE)`);
    await admin.end();
  }
}
