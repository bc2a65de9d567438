/**
 * MLLP over TLS, as production runs it (docs/hl7v2.md): the listener's key,
 * certificate and client CA come from MLLP_TLS_KEY / MLLP_TLS_CERT /
 * MLLP_TLS_CA files (mllpConfigFromEnv, production settings), and a
 * laboratory connects with a client certificate whose subject CN is a
 * registered system client's. The test makes its own throwaway CA and
 * certificates (node-forge), on every backend:
 *
 * - the laboratory's certificate: its message gets an AA and the result is
 *   stored, as its organisation's;
 * - no certificate, a certificate of another CA, and a certificate of the
 *   right CA naming no registered client: refused (no ACK, the connection
 *   closed), nothing stored.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mllpConfigFromEnv, startMllpListener, type RunningMllp } from '../gateway/src/hl7v2/mllp.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { issue, type Issued } from './support/certificates.js';

const ORG = 'org-county-north';
const CLIENT = `${ORG}-lis`;
let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${++sequence}`.toUpperCase();

const frame = (text: string) => Buffer.concat([Buffer.from([0x0b]), Buffer.from(text, 'utf8'), Buffer.from([0x1c, 0x0d])]);
const msa = (ack: string) => ack.split('\r').find((line) => line.startsWith('MSA|'))!.split('|');

function oru(hc: string, control: string): string {
  return [
    `MSH|^~\\&|LIS|NORTH-LAB|FPR|ALLIANCE|20260301083000||ORU^R01^ORU_R01|${control}|P|2.5.1`,
    `PID|1||${hc}^^^^HC~MR${hc}^^^${ORG}^MR||Zhao^Lei||19700302|M`,
    `OBR|1||${control}|58410-2^CBC panel^LN|||20260301080000`,
    'OBX|1|NM|718-7^Hemoglobin^LN||12.9|g/dL|12-17.5||||F|||20260301080000',
  ].join('\r');
}

/**
 * Connects over TLS (trusting the test CA), sends one message once the
 * handshake is done, and collects ACK frames until `acks` arrived or the
 * connection ended. A refused handshake is an ended connection, not a throw.
 */
function exchange(port: number, ca: string, client: Issued | null, message: string, acks = 1): Promise<{ acks: string[]; closed: boolean; secure: boolean }> {
  return new Promise((resolve) => {
    const got: string[] = [];
    let buffer = Buffer.alloc(0);
    let secure = false;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ acks: got, closed, secure });
    };
    const socket = tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca, ...(client ? { key: client.key, cert: client.cert } : {}) }, () => {
      secure = true;
      socket.write(frame(message));
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let end = buffer.indexOf(0x1c); end >= 0; end = buffer.indexOf(0x1c)) {
        got.push(buffer.subarray(buffer.indexOf(0x0b) + 1, end).toString('utf8'));
        buffer = buffer.subarray(end + 2);
      }
      if (got.length >= acks) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
  });
}

describe.each(BACKENDS)('MLLP over TLS with client certificates on %s', (backend) => {
  let stack: TestStack;
  let listener: RunningMllp;
  let directory: string;
  const ca = issue('Test alliance HL7 CA', null, 'ca');
  const otherCa = issue('Somebody else\'s CA', null, 'ca');
  const laboratory = issue(CLIENT, ca, 'client');
  const stranger = issue('org-county-north-unregistered', ca, 'client');
  const forged = issue(CLIENT, otherCa, 'client');

  const stored = async (control: string) => {
    const rows = await stack.databases.labs.query<{ organization_id: string }>(
      `SELECT organization_id FROM record_identifier WHERE resource_type = 'Observation' AND value LIKE '%/OBX/1' AND split_part(value, '/', 1) = $1`, [control]);
    return rows.map((r) => r.organization_id);
  };

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 0 });
    directory = mkdtempSync(path.join(tmpdir(), 'mllp-tls-'));
    const server = issue('localhost', ca, 'server');
    const file = (name: string, text: string) => {
      const at = path.join(directory, name);
      writeFileSync(at, text, { mode: 0o600 });
      return at;
    };
    // The production configuration, from the environment as the gateway reads it.
    const warnings: string[] = [];
    const config = await mllpConfigFromEnv({
      MLLP_PORT: '0', MLLP_TLS_KEY: file('server.key', server.key), MLLP_TLS_CERT: file('server.crt', server.cert), MLLP_TLS_CA: file('ca.crt', ca.cert),
      MLLP_CLIENTS: JSON.stringify([{ clientId: CLIENT, organizationId: ORG }]),
    }, { production: true, warn: (message) => warnings.push(message) });
    expect(warnings).toEqual([]);
    expect(config?.tls).toBeTruthy();
    listener = await startMllpListener(stack.gateway.hl7v2, config!);
  }, 180_000);
  afterAll(async () => {
    await listener?.close();
    await stack?.close();
    if (directory) rmSync(directory, { recursive: true, force: true });
  });

  it('stays off in production without the TLS files (shared secrets are for development)', async () => {
    const warnings: string[] = [];
    expect(await mllpConfigFromEnv({ MLLP_PORT: '0', MLLP_CLIENTS: '[]' }, { production: true, warn: (message) => warnings.push(message) })).toBeNull();
    expect(warnings.join()).toMatch(/MLLP_TLS_KEY/);
  });

  it('takes a message from a registered client\'s certificate: AA, and the result stored as its organisation\'s', { timeout: 120_000 }, async () => {
    const control = unique('TLS');
    const answer = await exchange(listener.port, ca.cert, laboratory, oru(unique('HC'), control));
    expect(answer.secure).toBe(true);
    expect(answer.acks).toHaveLength(1);
    expect(msa(answer.acks[0]!).slice(1, 3)).toEqual(['AA', control]);
    expect(await stored(control)).toEqual([ORG]);
    // Without any MSH-8 secret: the certificate alone authenticated the connection.
    expect(oru('X', control).split('\r')[0]!.split('|')[7]).toBe('');
  });

  const refused: [string, Issued | null][] = [
    ['no client certificate', null],
    ['a certificate of another CA naming the registered client', forged],
    ['a certificate of the right CA naming no registered client', stranger],
  ];
  it.each(refused)('refuses %s: no ACK, the connection closed, nothing stored', { timeout: 120_000 }, async (_, client) => {
    const control = unique('NOPE');
    const answer = await exchange(listener.port, ca.cert, client, oru(unique('HC'), control));
    expect(answer.closed).toBe(true);
    expect(answer.acks).toEqual([]);
    expect(await stored(control)).toEqual([]);
  });
});
