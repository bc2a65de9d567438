/**
 * The MLLP listener: HL7 v2 over TCP (0x0B message 0x1C 0x0D), the way
 * laboratory and hospital systems send it. Off unless configured
 * (MLLP_PORT); `npm start` and docker-compose turn it on. Every message is
 * answered by the same code as POST /hl7v2 (process.ts), with the same
 * provenance rules: what a connection stores is its authenticated system's
 * organisation's.
 *
 * - **Framing** (MllpFrames below): the start block 0x0B, the message, the
 *   end block 0x1C 0x0D. @medplum/hl7's Hl7Connection (the maintained MLLP
 *   code beside the parser the product uses) was tried and does not fit: a
 *   frame it cannot parse drops every other frame of the same TCP read
 *   without a way to answer them, it has no size limit (an oversize message
 *   is buffered whole), and it decodes every message in one fixed character
 *   set. No other package of the npm list does MLLP framing with those
 *   properties, so the framing (a byte scan, nothing more) is here; parsing
 *   stays @medplum/core's.
 * - **Authentication**, per connection: with TLS, the client certificate
 *   (required, checked against MLLP_TLS_CA) names the sending system by its
 *   subject CN, which must be a configured system client (`clients`); without
 *   TLS (development), the first message's MSH-8 (Security) carries a shared
 *   secret of a configured client. A connection that does not authenticate
 *   gets an AR and is closed.
 * - **Order and durability**: one ACK per message, in the order received;
 *   a message is processed only after the one before it was answered, and
 *   its AA is sent only after its transaction committed.
 * - **Bad input**: a frame that is not an HL7 message gets an AR and the
 *   connection stays usable; a message larger than `maxMessageBytes` gets an
 *   AR and the connection is closed (the rest is not read, never buffered).
 * - **Idle and half-open connections** are closed after `idleTimeoutMs`
 *   without data (TCP keep-alive detects dead peers sooner).
 */
import net from 'node:net';
import tls from 'node:tls';
import { randomUUID } from 'node:crypto';
import { Hl7Message } from '@medplum/core';
import type { Actor } from '../../../lib/trust/actor.js';
import { decodeBytes, splitMessages, Unreadable } from './message.js';
import { buildAck, errSegment, processMessage, type ProcessorOptions } from './process.js';

/** A sending system allowed on the listener: its client id and organisation (a registered system client). */
export interface MllpClient {
  clientId: string;
  organizationId: string;
  /** Development: the shared secret it sends in MSH-8 of a connection's first message. */
  sharedSecret?: string;
  /** TLS: the subject CN of its client certificate (default the client id). */
  certificateName?: string;
}

export interface MllpConfig {
  port: number;
  host?: string;
  clients: MllpClient[];
  /** TLS with client certificates (PEM): required in production. */
  tls?: { key: string | Buffer; cert: string | Buffer; ca: string | Buffer };
  /** Largest message accepted (default 1 MB, as POST /hl7v2). */
  maxMessageBytes?: number;
  /** A connection without data this long is closed (default 5 minutes). */
  idleTimeoutMs?: number;
}

export interface RunningMllp {
  port: number;
  /** Open connections (for the benchmark's memory figure and tests). */
  connections(): number;
  close(): Promise<void>;
}

const WRITE_SCOPE = 'system/Patient.cru system/Encounter.cru system/Observation.cru system/DiagnosticReport.cru';

const actorOf = (client: MllpClient): Actor => ({
  sub: client.clientId, role: 'system', org: client.organizationId, scope: WRITE_SCOPE, patient: null, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: client.clientId,
});

/**
 * MLLP configuration from the environment (MLLP_PORT, MLLP_HOST,
 * MLLP_CLIENTS, MLLP_TLS_KEY/CERT/CA files); null when MLLP_PORT is unset,
 * and in production without TLS (shared secrets are for development): the
 * warning says so.
 */
export async function mllpConfigFromEnv(env: NodeJS.ProcessEnv = process.env, options: { production?: boolean; warn?: (message: string) => void } = {}): Promise<MllpConfig | null> {
  if (!env.MLLP_PORT) return null;
  if (options.production && !(env.MLLP_TLS_KEY && env.MLLP_TLS_CERT && env.MLLP_TLS_CA)) {
    options.warn?.('MLLP_PORT is set but MLLP_TLS_KEY, MLLP_TLS_CERT and MLLP_TLS_CA are not: the MLLP listener stays off in production (docs/hl7v2.md)');
    return null;
  }
  const port = Number(env.MLLP_PORT);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error('MLLP_PORT must be a port number');
  // MLLP_CLIENTS: JSON [{ clientId, organizationId, sharedSecret?, certificateName? }]
  const clients = JSON.parse(env.MLLP_CLIENTS ?? '[]') as MllpClient[];
  if (!Array.isArray(clients) || clients.some((c) => typeof c?.clientId !== 'string' || typeof c?.organizationId !== 'string')) throw new Error('MLLP_CLIENTS must be a JSON list of { clientId, organizationId, sharedSecret?, certificateName? }');
  const { readFile } = await import('node:fs/promises');
  const tlsFiles = env.MLLP_TLS_KEY && env.MLLP_TLS_CERT && env.MLLP_TLS_CA
    ? { key: await readFile(env.MLLP_TLS_KEY), cert: await readFile(env.MLLP_TLS_CERT), ca: await readFile(env.MLLP_TLS_CA) } : undefined;
  return { port, host: env.MLLP_HOST, clients, tls: tlsFiles };
}

export async function startMllpListener(options: ProcessorOptions, config: MllpConfig): Promise<RunningMllp> {
  const maxBytes = config.maxMessageBytes ?? 1_000_000;
  const idleMs = config.idleTimeoutMs ?? 300_000;
  const sockets = new Set<net.Socket>();
  const bySecret = new Map(config.clients.filter((c) => c.sharedSecret).map((c) => [c.sharedSecret!, c]));
  const byName = new Map(config.clients.map((c) => [c.certificateName ?? c.clientId, c]));

  const onSocket = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.setKeepAlive(true, 30_000);
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    // TLS: the client certificate names the system; without TLS, the first message's MSH-8.
    let client: MllpClient | null = null;
    if (socket instanceof tls.TLSSocket) {
      const name = socket.getPeerCertificate()?.subject?.CN;
      client = (typeof name === 'string' && byName.get(name)) || null;
      if (!client) {
        socket.destroy();
        return;
      }
    }
    // Frames, each answered on its own; an oversize one is refused and the connection closed, the rest never read.
    let refused = false;
    const frames = new MllpFrames(maxBytes);
    socket.on('data', (chunk: Buffer) => {
      if (refused) return;
      const { messages, oversize } = frames.push(chunk);
      for (const message of messages) queue = queue.then(() => handle(message)).catch(failed);
      if (oversize) {
        refused = true;
        socket.pause();
        const ack = buildAck(null, 'AR', [errSegment('MSH^1', ['100', 'Segment sequence error'], `The message is larger than ${maxBytes} bytes; it was not read`)]);
        queue = queue.then(() => new Promise<void>((resolve) => socket.end(frame(ack), () => { socket.destroy(); resolve(); })));
      }
    });
    // One message at a time, in order: each ACK is written before the next message is processed.
    let queue: Promise<void> = Promise.resolve();
    const reply = (text: string) => {
      if (!socket.destroyed && !refused) socket.write(frame(text));
    };
    const failed = () => reply(buildAck(null, 'AR', [errSegment('MSH^1', ['207', 'Application internal error'], 'The message could not be processed; resend later')]));
    const handle = async (bytes: Buffer) => {
      if (refused || socket.destroyed) return;
      let text: string;
      try {
        text = decodeBytes(bytes);
      } catch (error) {
        const reason = error instanceof Unreadable ? error : new Unreadable('The message could not be decoded');
        reply(buildAck(null, 'AR', [errSegment(reason.location, [reason.code, 'Unsupported character set'], reason.message)]));
        return;
      }
      const messages = splitMessages(text);
      // Not an HL7 message at all: an AR (processMessage says why), and the connection goes on.
      if (!messages.length || !messages[0]!.startsWith('MSH')) messages.splice(0, messages.length, text.slice(0, 1000) || ' ');
      for (const message of messages) {
        if (!client) {
          // Development: the connection authenticates with its first message's shared secret (MSH-8).
          const secret = /^MSH(.)/.exec(message) ? message.split(message[3]!)[7] ?? '' : '';
          client = bySecret.get(secret) ?? null;
          if (!client && !message.startsWith('MSH')) {
            // Garbage before any message: answered, the connection may still authenticate.
            reply((await processMessage(message, actorOf({ clientId: 'unauthenticated', organizationId: '' }), randomUUID(), options)).ack);
            continue;
          }
          if (!client) {
            reply(buildAck(safeParse(message), 'AR', [errSegment('MSH^1^8', ['207', 'Application internal error'], 'This connection is not authenticated: send the shared secret in MSH-8, or connect with TLS and a client certificate')]));
            socket.end();
            return;
          }
        }
        const answer = await processMessage(message, actorOf(client), randomUUID(), options);
        reply(answer.ack);
      }
    };
  };

  const server = config.tls
    ? tls.createServer({ key: config.tls.key, cert: config.tls.cert, ca: config.tls.ca, requestCert: true, rejectUnauthorized: true }, onSocket)
    : net.createServer(onSocket);
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    connections: () => sockets.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An MLLP frame of an ACK (UTF-8). */
function frame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from([0x0b]), body, Buffer.from([0x1c, 0x0d])]);
}

function safeParse(text: string): Hl7Message | null {
  try {
    return Hl7Message.parse(text);
  } catch {
    return null;
  }
}

/**
 * MLLP framing: start block 0x0B, message, end block 0x1C 0x0D. Bytes before
 * a start block are skipped; a frame whose message grows past the limit is
 * reported (the caller closes the connection) and nothing more is kept.
 */
export class MllpFrames {
  private chunks: Buffer[] = [];
  private size = 0;
  private inFrame = false;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer): { messages: Buffer[]; oversize: boolean } {
    const messages: Buffer[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(0x0b, at);
        if (start < 0) break;
        this.inFrame = true;
        at = start + 1;
        continue;
      }
      const end = chunk.indexOf(0x1c, at);
      const piece = chunk.subarray(at, end < 0 ? chunk.length : end);
      this.size += piece.length;
      if (this.size > this.maxBytes) {
        this.chunks = [];
        return { messages, oversize: true };
      }
      this.chunks.push(piece);
      if (end < 0) break;
      messages.push(Buffer.concat(this.chunks));
      this.chunks = [];
      this.size = 0;
      this.inFrame = false;
      at = end + 1;
      if (chunk[at] === 0x0d) at++;
    }
    return { messages, oversize: false };
  }
}
