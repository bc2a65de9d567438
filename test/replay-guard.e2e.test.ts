/**
 * The replay guard every replica shares (lib/trust/replay-guard.ts), against
 * the real Redis server: a captured actor token, accepted once at one replica
 * of a subgraph, is refused at the other; without the shared guard the other
 * replica would accept it (the residual it closes); and when Redis does not
 * answer no internal call is accepted (503, the service's fault, not the
 * caller's).
 *
 * The replicas here are two real labs services over HTTP, each on its own
 * throwaway database: what they share for this purpose is the guard alone.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateDevKeys, keyringOf, type DevKeys } from '../lib/trust/keys.js';
import { startSubgraph, type RunningSubgraph } from '../lib/runtime/subgraph.js';
import { ACTOR_TOKEN_HEADER } from '../lib/trust/internal-token.js';
import { ProcessReplayGuard, RedisReplayGuard, ReplayGuardUnavailable, replayGuardFromEnv, type ReplayGuard } from '../lib/trust/replay-guard.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';
import { internalSigners, staffActor } from './support/internal.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const QUERY = 'query { __typename }';
/** Each test starts real services (migrations included): a busy two-core machine needs minutes, not seconds. */
const STARTS_TWO_SERVICES = 240_000;

/** A TCP proxy in front of Redis that the test can cut, as a network partition would. */
async function cuttableProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()); }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cut: async () => {
      await new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of sockets) s.destroy(); });
    },
  };
}

describe('the shared replay guard of internal tokens (Redis)', () => {
  let keys: DevKeys;
  const running: RunningSubgraph[] = [];
  const labs = async (replayGuard: ReplayGuard) => {
    const service = await startSubgraph(SUBGRAPH_MODULES.labs.module, {
      databaseUrl: 'memory://', host: '127.0.0.1', port: 0, production: false, keyring: keyringOf(keys.internal, 'labs'), peers: () => 'http://127.0.0.1:1/graphql', replayGuard,
    });
    running.push(service);
    return service;
  };
  const post = async (service: RunningSubgraph, token: string) => {
    const response = await fetch(service.url, { method: 'POST', headers: { 'content-type': 'application/json', [ACTOR_TOKEN_HEADER]: token }, body: JSON.stringify({ query: QUERY }) });
    return { status: response.status, body: (await response.json()) as { data?: unknown; errors?: Array<{ extensions: { code: string } }> } };
  };

  beforeAll(async () => {
    keys = await generateDevKeys('replay-');
  });
  afterAll(async () => {
    for (const service of running) await service.close();
  });

  it('refuses at one replica a token another replica accepted, and at the same replica too', async () => {
    const [a, b] = [await labs(await RedisReplayGuard.connect(REDIS_URL, 'labs')), await labs(await RedisReplayGuard.connect(REDIS_URL, 'labs'))];
    const token = internalSigners(keys).actorToken('labs', staffActor('org-county-north'), QUERY);
    expect(await post(a!, token)).toMatchObject({ status: 200, body: { data: { __typename: 'Query' } } });
    for (const replica of [b!, a!]) {
      const replayed = await post(replica, token);
      expect(replayed.status).toBe(401);
      expect(replayed.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
    // A fresh token is accepted at either.
    expect((await post(b!, internalSigners(keys).actorToken('labs', staffActor('org-county-north'), QUERY))).status).toBe(200);
  }, STARTS_TWO_SERVICES);

  it('is what closes the replay: replicas that each remember alone accept the same token once each', async () => {
    const [a, b] = [await labs(new ProcessReplayGuard()), await labs(new ProcessReplayGuard())];
    const token = internalSigners(keys).actorToken('labs', staffActor('org-county-north'), QUERY);
    expect((await post(a!, token)).status).toBe(200);
    expect((await post(b!, token)).status).toBe(200);
    expect((await post(a!, token)).status).toBe(401);
  }, STARTS_TWO_SERVICES);

  it('fails closed: with Redis cut off no internal call is accepted (503 SUBGRAPH_UNAVAILABLE), and a service does not start without it', async () => {
    const proxy = await cuttableProxy({ host: new URL(REDIS_URL).hostname, port: Number(new URL(REDIS_URL).port || 6379) });
    const service = await labs(await RedisReplayGuard.connect(proxy.url, 'labs'));
    expect((await post(service, internalSigners(keys).actorToken('labs', staffActor('org-county-north'), QUERY))).status).toBe(200);
    await proxy.cut();
    const refused = await post(service, internalSigners(keys).actorToken('labs', staffActor('org-county-north'), QUERY));
    expect(refused.status).toBe(503);
    expect(refused.body.errors?.[0]?.extensions.code).toBe('SUBGRAPH_UNAVAILABLE');
    expect(refused.body.data ?? null).toBeNull();
    // Configured but unreachable: the replica refuses to start rather than run unguarded.
    await expect(replayGuardFromEnv('labs', { REPLAY_GUARD_REDIS_URL: proxy.url })).rejects.toBeInstanceOf(ReplayGuardUnavailable);
    await expect(replayGuardFromEnv('labs', { REPLAY_GUARD_REDIS_URL: 'http://127.0.0.1:6379' })).rejects.toThrow(/redis:\/\//);
    // Not configured: each process remembers alone (npm start, one replica per service).
    expect(await replayGuardFromEnv('labs', {})).toBeInstanceOf(ProcessReplayGuard);
  }, STARTS_TWO_SERVICES);
});
