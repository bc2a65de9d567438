/**
 * HL7 v2 over MLLP, as a laboratory's interface engine sends it: a real TCP
 * client against the gateway's listener (gateway/src/hl7v2/mllp.ts), on
 * every backend.
 *
 * - 1,000 messages pipelined over one connection, and 1,000 over ten
 *   connections at once: one ACK per message, in order per connection, each
 *   AA, each message stored exactly once;
 * - a frame that is not HL7 gets an AR and the connection stays usable;
 * - a message over the size limit gets an AR and the connection is closed;
 * - a connection that does not authenticate gets an AR and is closed; an
 *   idle one is closed.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMllpListener, type RunningMllp } from '../gateway/src/hl7v2/mllp.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const ORG = 'org-county-north';
const SECRET = 'test-mllp-secret';
let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${++sequence}`.toUpperCase();

/** A raw MLLP client: writes frames, collects the ACK frames it gets back, tells when the server closed. */
class MllpClient {
  private buffer = Buffer.alloc(0);
  readonly acks: string[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (let end = this.buffer.indexOf(0x1c); end >= 0; end = this.buffer.indexOf(0x1c)) {
        const start = this.buffer.indexOf(0x0b);
        this.acks.push(this.buffer.subarray(start + 1, end).toString('utf8'));
        this.buffer = this.buffer.subarray(end + 2);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new MllpClient(socket)));
      socket.once('error', reject);
    });
  }

  private wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(text: string | Buffer) {
    const body = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
    this.socket.write(Buffer.concat([Buffer.from([0x0b]), body, Buffer.from([0x1c, 0x0d])]));
  }

  /** Waits until `count` ACKs arrived, or the connection closed. */
  async until(count: number): Promise<string[]> {
    while (this.acks.length < count && !this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.acks;
  }

  async untilClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  close() {
    this.socket.destroy();
  }
}

const msa = (ack: string) => ack.split('\r').find((line) => line.startsWith('MSA|'))!.split('|');

function oru(hc: string, control: string, value: number, secret = SECRET): string {
  return [
    `MSH|^~\\&|LIS|NORTH-LAB|FPR|ALLIANCE|20260301083000|${secret}|ORU^R01^ORU_R01|${control}|P|2.5.1`,
    `PID|1||${hc}^^^^HC~MR${hc}^^^${ORG}^MR||Zhang^San||19650412|M`,
    `OBR|1||${control}|58410-2^CBC panel^LN|||20260301080000`,
    `OBX|1|NM|718-7^Hemoglobin^LN||${value}|g/dL|12-17.5||||F|||20260301080000`,
  ].join('\r');
}

describe.each(BACKENDS)('MLLP listener on %s', (backend) => {
  let stack: TestStack;
  let listener: RunningMllp;

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 0 });
    listener = await startMllpListener(stack.gateway.hl7v2, { port: 0, clients: [{ clientId: `${ORG}-lis`, organizationId: ORG, sharedSecret: SECRET }], maxMessageBytes: 100_000 });
  });
  afterAll(async () => {
    await listener?.close();
    await stack?.close();
  });

  /** How many messages of these control ids were stored, and how many results they carried. */
  const stored = async (controls: string[]) => {
    const [messages] = await stack.databases.labs.query<{ n: number }>('SELECT count(*)::int AS n FROM hl7v2_message WHERE control_id = ANY($1::text[])', [controls]);
    const [results] = await stack.databases.labs.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM record_identifier WHERE resource_type = 'Observation' AND value LIKE '%/OBX/1' AND split_part(value, '/', 1) = ANY($1::text[])`, [controls]);
    return { messages: messages!.n, results: results!.n };
  };

  /** Sends `count` messages pipelined on one connection; checks the ACKs came back one per message, in order, all AA. */
  const pipeline = async (count: number) => {
    const client = await MllpClient.connect(listener.port);
    const hc = unique('HC');
    const controls = Array.from({ length: count }, () => unique('M'));
    controls.forEach((control, i) => client.send(oru(hc, control, 10 + (i % 50) / 10)));
    const acks = await client.until(count);
    client.close();
    expect(acks).toHaveLength(count);
    expect(acks.map((ack) => msa(ack)[2])).toEqual(controls);
    expect(acks.filter((ack) => msa(ack)[1] !== 'AA')).toEqual([]);
    return controls;
  };

  it('answers 1,000 messages over one connection: 1,000 ACKs in order, each stored once', { timeout: 300_000 }, async () => {
    const controls = await pipeline(1000);
    expect(await stored(controls)).toEqual({ messages: 1000, results: 1000 });
  });

  it('answers 1,000 messages over ten connections at once: in order per connection, each stored once', { timeout: 300_000 }, async () => {
    const controls = (await Promise.all(Array.from({ length: 10 }, () => pipeline(100)))).flat();
    expect(new Set(controls).size).toBe(1000);
    expect(await stored(controls)).toEqual({ messages: 1000, results: 1000 });
  });

  it('admits and discharges over one connection (ADT^A01, ADT^A03): the stay ends and its follow-up plan is made', { timeout: 120_000 }, async () => {
    const client = await MllpClient.connect(listener.port);
    const hc = unique('HC');
    const visit = unique('V');
    const header = (event: string, control: string) => `MSH|^~\\&|HIS|NORTH|FPR|ALLIANCE|20260301083000|${SECRET}|ADT^${event}^ADT_A01|${control}|P|2.5.1`;
    const pid = `PID|1||${hc}^^^^HC~MR${hc}^^^${ORG}^MR||Wang^Fang||19480211|F`;
    const pv1 = (extra: string) => `PV1|1|I|WARD^3^1||||||||||||||||${visit}${extra}`;
    const [admit, discharge] = [unique('A'), unique('D')];
    client.send([header('A01', admit), 'EVN|A01|20260301070000', pid, pv1('')].join('\r'));
    client.send([header('A03', discharge), 'EVN|A03|20260304090000', pid, 'PD1|||Gaiyang THC^^^^^^^^^org-thc-gaiyang', pv1('|'.repeat(17) + '01' + '|'.repeat(9) + '20260304090000')].join('\r'));
    const acks = await client.until(2);
    client.close();
    expect(acks.map((ack) => msa(ack).slice(1, 3)), acks.join('\n')).toEqual([['AA', admit], ['AA', discharge]]);
    const [stay] = await stack.databases.encounters.query<{ id: string; status: string; period_end: Date; discharge_disposition: string }>(
      `SELECT e.id, e.status, e.period_end, e.discharge_disposition FROM encounter e JOIN record_identifier r ON r.record_id = e.id WHERE r.resource_type = 'Encounter' AND r.value = $1`, [visit]);
    expect(stay).toMatchObject({ status: 'finished', discharge_disposition: 'home' });
    expect(new Date(stay!.period_end).toISOString()).toBe('2026-03-04T09:00:00.000Z');
    const tasks = await stack.databases['public-health'].query<{ rule_code: string }>('SELECT rule_code FROM follow_up_task WHERE based_on_encounter_id = $1 ORDER BY rule_code', [stay!.id]);
    expect(tasks.map((t) => t.rule_code)).toEqual(['DISCHARGE-MEDREC', 'DISCHARGE-VISIT']);
  });

  it('answers a frame that is not HL7 with an AR and goes on with the next message on the same connection', async () => {
    const client = await MllpClient.connect(listener.port);
    const control = unique('G');
    client.send(Buffer.from([0x00, 0xff, 0x13, 0x37, 0x42]));
    client.send('this is not an HL7 message');
    client.send(oru(unique('HC'), control, 13.1));
    const acks = await client.until(3);
    client.close();
    expect(acks.map((ack) => msa(ack)[1])).toEqual(['AR', 'AR', 'AA']);
    expect(msa(acks[2]!)[2]).toBe(control);
    expect(await stored([control])).toEqual({ messages: 1, results: 1 });
  });

  it('refuses a message over the size limit with an AR and closes the connection, storing nothing', async () => {
    const client = await MllpClient.connect(listener.port);
    const control = unique('BIG');
    client.send(oru(unique('HC'), control, 13.1).replace('|F|||', `|F|||`).replace('Zhang^San', `Zhang^${'X'.repeat(150_000)}`));
    await client.untilClosed();
    expect(client.acks.map((ack) => msa(ack)[1])).toEqual(['AR']);
    expect(await stored([control])).toEqual({ messages: 0, results: 0 });
  });

  it('refuses a connection without the shared secret (AR, closed) and closes an idle one', async () => {
    const client = await MllpClient.connect(listener.port);
    const control = unique('NOAUTH');
    client.send(oru(unique('HC'), control, 13.1, 'wrong-secret'));
    await client.untilClosed();
    expect(client.acks.map((ack) => msa(ack)[1])).toEqual(['AR']);
    expect(await stored([control])).toEqual({ messages: 0, results: 0 });

    const idle = await startMllpListener(stack.gateway.hl7v2, { port: 0, clients: [], idleTimeoutMs: 200 });
    const quiet = await MllpClient.connect(idle.port);
    await quiet.untilClosed();
    expect(quiet.closed).toBe(true);
    await idle.close();
  });
});
