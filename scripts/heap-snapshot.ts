/**
 * Heap snapshots of a running service, for finding what holds memory
 * (docs/hardening.md), without an admin path or a signal handler in the
 * product:
 *
 * - the service opens the V8 inspector only when HEAP_INSPECT names it
 *   (`HEAP_INSPECT=gateway:9231,identity:9232`), on 127.0.0.1 only
 *   (scripts/service.ts); nothing else can open it;
 * - `takeHeapSnapshot` connects to that inspector (Chrome DevTools protocol
 *   over the WebSocket Node has built in), collects garbage, and writes the
 *   snapshot to a `.heapsnapshot` file (Chrome DevTools opens it);
 * - `summarizeHeapSnapshot` adds up self sizes by constructor, and
 *   `heapGrowth` says which grew between two snapshots.
 */
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import inspector from 'node:inspector';
import type { Logger } from '../lib/runtime/logger.js';

/** Opens the inspector when HEAP_INSPECT names this service; loopback only. */
export function openHeapInspector(service: string, logger: Logger, spec = process.env.HEAP_INSPECT): void {
  if (!spec) return;
  const entry = spec.split(',').map((part) => part.trim().split(':')).find(([name]) => name === service);
  if (!entry) return;
  const port = Number(entry[1]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`HEAP_INSPECT: bad port for ${service}: ${entry[1]}`);
  inspector.open(port, '127.0.0.1', false);
  logger.warn({ port }, 'V8 inspector open on 127.0.0.1 (HEAP_INSPECT): for heap snapshots in measurements only, never in a deployment');
}

/** Takes a heap snapshot (after a full garbage collection) of the service whose inspector listens on `port`; writes it to `file`. */
export async function takeHeapSnapshot(port: number, file: string): Promise<void> {
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as { webSocketDebuggerUrl: string }[];
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    socket.onopen = () => resolve();
    socket.onerror = () => reject(new Error(`cannot reach the inspector on port ${port}`));
  });
  const out = createWriteStream(file);
  const pending = new Map<number, (message: { error?: { message: string } }) => void>();
  let nextId = 0;
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; method?: string; params?: { chunk: string }; error?: { message: string } };
    if (message.method === 'HeapProfiler.addHeapSnapshotChunk') out.write(message.params!.chunk);
    else if (message.id !== undefined) pending.get(message.id)?.(message);
  };
  const send = (method: string, params: Record<string, unknown> = {}) => new Promise<void>((resolve, reject) => {
    const id = ++nextId;
    pending.set(id, (message) => (message.error ? reject(new Error(`${method}: ${message.error.message}`)) : resolve()));
    socket.send(JSON.stringify({ id, method, params }));
  });
  try {
    await send('HeapProfiler.enable');
    await send('HeapProfiler.collectGarbage');
    await send('HeapProfiler.takeHeapSnapshot', { reportProgress: false });
  } finally {
    socket.close();
    await new Promise<void>((resolve) => out.end(resolve));
  }
}

export interface HeapSummary {
  totalBytes: number;
  nodes: number;
  /** Self size and count by constructor (objects) or by kind in parentheses (strings, code, arrays…). */
  byConstructor: Map<string, { bytes: number; count: number }>;
}

/** Adds up a snapshot's self sizes by constructor. */
export async function summarizeHeapSnapshot(file: string): Promise<HeapSummary> {
  const snapshot = JSON.parse(await readFile(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byConstructor = new Map<string, { bytes: number; count: number }>();
  let totalBytes = 0;
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]!]!;
    const size = snapshot.nodes[i + sizeAt]!;
    const key = type === 'object' || type === 'native' ? snapshot.strings[snapshot.nodes[i + nameAt]!]! : `(${type})`;
    const entry = byConstructor.get(key) ?? { bytes: 0, count: 0 };
    entry.bytes += size;
    entry.count += 1;
    byConstructor.set(key, entry);
    totalBytes += size;
  }
  return { totalBytes, nodes: snapshot.nodes.length / width, byConstructor };
}

/** The constructors that grew most between two snapshots, as printable lines. */
export function heapGrowth(before: HeapSummary, after: HeapSummary, top = 15): string[] {
  const rows = [...after.byConstructor].map(([name, { bytes, count }]) => {
    const was = before.byConstructor.get(name) ?? { bytes: 0, count: 0 };
    return { name, bytes: bytes - was.bytes, count: count - was.count, now: bytes };
  }).sort((a, b) => b.bytes - a.bytes).slice(0, top);
  const mb = (n: number) => (n / 2 ** 20).toFixed(2);
  return [
    `heap (live, after GC): ${mb(before.totalBytes)} MB -> ${mb(after.totalBytes)} MB (${after.totalBytes >= before.totalBytes ? '+' : ''}${mb(after.totalBytes - before.totalBytes)} MB)`,
    ...rows.map((r) => `  ${r.bytes >= 0 ? '+' : ''}${mb(r.bytes).padStart(7)} MB  ${(r.count >= 0 ? '+' : '') + r.count} objects  ${r.name.slice(0, 80)} (now ${mb(r.now)} MB)`),
  ];
}
