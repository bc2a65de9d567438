/**
 * The replay guard of internal tokens: each token (its `jti`) is accepted once.
 *
 * One replica alone can remember what it accepted (`ProcessReplayGuard`), but
 * with several replicas of a subgraph behind a load balancer a captured token
 * would be accepted once more at every other replica. `RedisReplayGuard`
 * shares the memory between replicas: `SET <key> NX EXAT <expiry>` on one
 * Redis (atomic: of two replicas offered the same token at once, exactly one
 * gets OK), forgotten by Redis when the token expires anyway.
 *
 * It fails closed: when Redis does not answer (down, unreachable, slower than
 * the deadline) no internal call is accepted (`ReplayGuardUnavailable`, which
 * the services answer with 503, so the gateway reports the subgraph
 * unavailable rather than the caller unauthenticated). Commands are not queued
 * while the client reconnects: a call fails at once instead of waiting.
 *
 * Configured by `REPLAY_GUARD_REDIS_URL` (docs/deployment.md); without it each
 * process keeps its own memory, right for `npm start` and one replica each.
 */
import type { createClient } from 'redis';

/**
 * The client as the guard uses it: commands fail at once while disconnected
 * (no offline queue); after the first connection it reconnects for ever,
 * backing off to 2 s; the first connection is not retried (`connect` fails).
 * The Redis client is loaded only when a shared guard is configured: a
 * service without one need not hold its code (several MB) in a capped heap.
 */
const clientOptions = (url: string, connected: () => boolean) => ({
  url,
  disableOfflineQueue: true,
  socket: { connectTimeout: 2_000, reconnectStrategy: (retries: number, cause: Error) => (connected() ? Math.min(100 * 2 ** retries, 2_000) : cause) },
});
type Client = ReturnType<typeof createClient<Record<never, never>, Record<never, never>, Record<never, never>, 2>>;
const newClient = async (url: string, connected: () => boolean): Promise<Client> => (await import('redis')).createClient(clientOptions(url, connected));

export interface ReplayGuard {
  /** True the first time `jti` is offered; false when it was accepted before (by any replica sharing the guard). */
  accept(jti: string, exp: number): Promise<boolean>;
  close(): Promise<void>;
}

/** The guard cannot tell: the call is refused (fail closed), and the refusal is the service's, not the caller's. */
export class ReplayGuardUnavailable extends Error {
  constructor(cause: unknown) {
    super(`the shared replay guard (Redis) did not answer: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ReplayGuardUnavailable';
  }
}

/** Seconds a token is still accepted after its `exp` (clock skew between services). */
export const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Remembers the ids of tokens already accepted until they expire, so each is
 * used once per process. Bounded: past the cap the oldest ids are forgotten
 * early (their tokens then expire within the token lifetime anyway).
 */
export class ProcessReplayGuard implements ReplayGuard {
  private readonly seen = new Map<string, number>();
  constructor(private readonly cap = 200_000) {}

  async accept(jti: string, exp: number): Promise<boolean> {
    if (this.seen.has(jti)) return false;
    // Ids are inserted in (about) the order they expire: forget from the front
    // what has expired, and past the cap the oldest too.
    const now = Date.now() / 1000 - CLOCK_TOLERANCE_SECONDS;
    for (const [id, expiry] of this.seen) {
      if (expiry >= now && this.seen.size < this.cap) break;
      this.seen.delete(id);
    }
    this.seen.set(jti, exp);
    return true;
  }

  async close(): Promise<void> {
    this.seen.clear();
  }
}

/** How long one check may take before the call is refused (fail closed). */
const REDIS_DEADLINE_MS = 1_000;

export class RedisReplayGuard implements ReplayGuard {
  private constructor(
    private readonly client: Client,
    /** Keys are per receiving service: a token names one audience, and services may share one Redis. */
    private readonly prefix: string,
  ) {}

  /** Connects (and waits for the first connection: a service does not start with a guard it cannot use). */
  static async connect(url: string, service: string): Promise<RedisReplayGuard> {
    let connected = false;
    const client = await newClient(url, () => connected);
    // Errors while reconnecting are reported by each refused call; the client
    // must have a listener or Node treats them as unhandled.
    client.on('error', () => {});
    try {
      await client.connect();
      connected = true;
    } catch (error) {
      await client.destroy();
      throw new ReplayGuardUnavailable(error);
    }
    return new RedisReplayGuard(client, `fpr:jti:${service}:`);
  }

  async accept(jti: string, exp: number): Promise<boolean> {
    if (!this.client.isReady) throw new ReplayGuardUnavailable(new Error('not connected'));
    let timer: NodeJS.Timeout | undefined;
    try {
      const reply = await Promise.race([
        this.client.set(this.prefix + jti, '1', { condition: 'NX', expiration: { type: 'EXAT', value: Math.ceil(exp) + CLOCK_TOLERANCE_SECONDS } }),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_DEADLINE_MS} ms`)), REDIS_DEADLINE_MS); }),
      ]);
      return reply === 'OK';
    } catch (error) {
      throw new ReplayGuardUnavailable(error);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.close().catch(() => this.client.destroy());
  }
}

/** The guard a service runs with: shared on Redis when `REPLAY_GUARD_REDIS_URL` is set, else its own. */
export async function replayGuardFromEnv(service: string, env: NodeJS.ProcessEnv = process.env): Promise<ReplayGuard> {
  const url = env.REPLAY_GUARD_REDIS_URL;
  if (!url) return new ProcessReplayGuard();
  if (!/^rediss?:\/\//.test(url)) throw new Error(`REPLAY_GUARD_REDIS_URL must be a redis:// or rediss:// URL, got "${url.replace(/\/\/[^@/]*@/, '//…@')}"`);
  return RedisReplayGuard.connect(url, service);
}
