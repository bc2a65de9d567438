/**
 * An ACK means committed, even when the gateway dies: the product runs as
 * six processes (scripts/process-stack.ts, production settings), the
 * gateway's MLLP listener over TLS with a client certificate. A laboratory
 * pipelines messages over one connection; the gateway is killed (SIGKILL)
 * while they stream in, and started again. Then:
 *
 * - every message that got an AA before the kill is stored (read back
 *   through GraphQL, by its value);
 * - the laboratory resends everything it was not acknowledged (as an
 *   interface engine does): each gets an AA, and in the end every message is
 *   stored exactly once (a message committed just before the kill, its ACK
 *   lost, is recognised as a replay, not stored twice).
 *
 * On every backend.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { freePort, startProcessStack, type ProcessStack } from '../scripts/process-stack.js';
import { issue } from './support/certificates.js';

const ORG = 'org-county-north';
const CLIENT = `${ORG}-lis`;
const BACKENDS = process.env.TEST_DATABASE_URL ? (['pglite', 'postgres'] as const) : (['pglite'] as const);
const MESSAGES = 150;
/** The gateway is killed when this many ACKs arrived (well before the end of the stream). */
const KILL_AFTER = 15;

/** One laboratory connection over TLS: writes frames, collects ACK frames until closed. */
class Sender {
  readonly acks: string[] = [];
  closed = false;
  private buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  private constructor(private readonly socket: tls.TLSSocket, onAck: (count: number) => void) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (let end = this.buffer.indexOf(0x1c); end >= 0; end = this.buffer.indexOf(0x1c)) {
        this.acks.push(this.buffer.subarray(this.buffer.indexOf(0x0b) + 1, end).toString('utf8'));
        this.buffer = this.buffer.subarray(end + 2);
        onAck(this.acks.length);
      }
      this.wake();
    });
    const close = () => {
      this.closed = true;
      this.wake();
    };
    socket.on('close', close);
    socket.on('error', close);
  }

  static connect(port: number, credentials: { ca: string; key: string; cert: string }, onAck: (count: number) => void = () => undefined): Promise<Sender> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ...credentials }, () => resolve(new Sender(socket, onAck)));
      socket.once('error', reject);
    });
  }

  private wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(text: string) {
    this.socket.write(Buffer.concat([Buffer.from([0x0b]), Buffer.from(text, 'utf8'), Buffer.from([0x1c, 0x0d])]));
  }

  async until(count: number): Promise<string[]> {
    while (this.acks.length < count && !this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.acks;
  }

  close() {
    this.socket.destroy();
  }
}

const msa = (ack: string) => ack.split('\r').find((line) => line.startsWith('MSA|'))!.split('|');

describe.each(BACKENDS)('MLLP: the gateway killed mid-stream loses no acknowledged message, on %s', (backend) => {
  let stack: ProcessStack;
  let scratch: string;
  let mllpPort: number;
  const ca = issue('Crash test CA', null, 'ca');
  const laboratory = issue(CLIENT, ca, 'client');
  const credentials = { ca: ca.cert, key: laboratory.key, cert: laboratory.cert };
  const run = Date.now().toString(36).toUpperCase();
  const hc = `HCK${run}`;
  /** Message i: its own control id and order number, and a value (i + 1) that says which message a stored result came from. */
  const message = (i: number) => [
    `MSH|^~\\&|LIS|NORTH-LAB|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|K${run}-${i}|P|2.5.1`,
    `PID|1||${hc}^^^^HC~MR${hc}^^^${ORG}^MR||Sun^Li||19800115|F`,
    `OBR|1||ORD${run}-${i}|58410-2^CBC panel^LN|||20260301080000`,
    `OBX|1|NM|718-7^Hemoglobin^LN||${i + 1}|g/L|||||F|||20260301080000`,
  ].join('\r');

  /** The values of the patient's stored results, read through the gateway (every page). */
  const storedValues = async (): Promise<number[]> => {
    const clinician = await stack.token({ sub: 'dr-north-crash', role: 'clinician', org: ORG });
    const values: number[] = [];
    let after: string | null = null;
    for (;;) {
      const response = await fetch(stack.url, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${clinician}` },
        body: JSON.stringify({
          query: `query($hc: String!, $after: String) { patientByIdentifier(system: "${SYSTEM.healthCard}", value: $hc) {
            observations(first: 100, after: $after) { edges { node { valueQuantity { value } } } pageInfo { hasNextPage endCursor } } } }`,
          variables: { hc, after },
        }),
      });
      const body = (await response.json()) as { data?: any; errors?: unknown[] };
      expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
      const page = body.data.patientByIdentifier?.observations;
      if (!page) return values;
      values.push(...page.edges.map((e: { node: { valueQuantity: { value: number } } }) => e.node.valueQuantity.value));
      if (!page.pageInfo.hasNextPage) return values.sort((a, b) => a - b);
      after = page.pageInfo.endCursor;
    }
  };

  beforeAll(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'mllp-crash-'));
    const server = issue('localhost', ca, 'server');
    const file = (name: string, text: string) => {
      writeFileSync(path.join(scratch, name), text, { mode: 0o600 });
      return path.join(scratch, name);
    };
    mllpPort = await freePort();
    stack = await startProcessStack({
      backend, patients: 0,
      env: {
        // A publication left unfinished by the killed gateway is aborted by recovery after INGEST_STALE_SECONDS (120 s by
        // default; shorter here), which runs every INGEST_RECOVERY_INTERVAL_MS.
        INGEST_STALE_SECONDS: '15', INGEST_RECOVERY_INTERVAL_MS: '2000',
        MLLP_PORT: String(mllpPort), MLLP_CLIENTS: JSON.stringify([{ clientId: CLIENT, organizationId: ORG }]),
        MLLP_TLS_KEY: file('server.key', server.key), MLLP_TLS_CERT: file('server.crt', server.cert), MLLP_TLS_CA: file('ca.crt', ca.cert),
      },
    });
  }, 600_000);
  afterAll(async () => {
    await stack?.close();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('stores every message acknowledged before the kill; the resent rest is stored, each message once', { timeout: 900_000 }, async () => {
    // The stream, and SIGKILL once KILL_AFTER ACKs arrived.
    const sender = await Sender.connect(mllpPort, credentials, (count) => {
      if (count === KILL_AFTER) stack.signal('gateway', 'SIGKILL');
    });
    for (let i = 0; i < MESSAGES; i++) sender.send(message(i));
    await sender.until(MESSAGES);
    sender.close();
    const acknowledged = sender.acks.map(msa).filter((m) => m[1] === 'AA').map((m) => Number(m[2]!.split('-')[1]));
    expect(sender.acks.length, 'the gateway died mid-stream').toBeGreaterThanOrEqual(KILL_AFTER);
    expect(sender.acks.length, 'the gateway died mid-stream').toBeLessThan(MESSAGES);
    expect(acknowledged).toEqual(Array.from({ length: sender.acks.length }, (_, i) => i));
    expect(await stack.exited('gateway')).toBeNull(); // killed by the signal, not an exit code

    // Started again: every acknowledged message is there.
    await stack.restart('gateway');
    const afterRestart = await storedValues();
    for (const i of acknowledged) expect(afterRestart, `message ${i} was acknowledged`).toContain(i + 1);

    // The laboratory resends what it was not acknowledged, in order, on a new connection, as an interface engine does:
    // one at a time, the same message again after an AR (resend later). The message that was in flight when the gateway
    // died meets its unfinished publication (an AR, never an AE) until recovery aborts it; every message ends with an AA.
    const rest = Array.from({ length: MESSAGES - acknowledged.length }, (_, n) => acknowledged.length + n);
    const resender = await Sender.connect(mllpPort, credentials);
    const final: string[][] = [];
    const retried: string[] = [];
    for (const i of rest) {
      for (let attempt = 0; ; attempt++) {
        resender.send(message(i));
        const before = resender.acks.length;
        await resender.until(before + 1);
        if (resender.acks.length === before) throw new Error(`the connection closed before message ${i} was answered`);
        const ack = resender.acks.at(-1)!;
        const [, code, control] = msa(ack);
        if (code !== 'AR' || attempt >= 300) {
          final.push([code!, control!]);
          break;
        }
        retried.push(ack);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    }
    resender.close();
    expect(final, retried.join('\n')).toEqual(rest.map((i) => ['AA', `K${run}-${i}`]));
    expect(retried.every((ack) => /ERR\|\|[^|]*\|206\^/.test(ack)), retried.join('\n')).toBe(true);
    // Every message stored, each exactly once.
    expect(await storedValues()).toEqual(Array.from({ length: MESSAGES }, (_, i) => i + 1));
  });
});
