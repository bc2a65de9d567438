/**
 * Service-to-service tokens (lib/trust/internal-token.ts) and the table of internal
 * APIs (lib/runtime/internal-api.ts): each token is good for one purpose, from one
 * service, once.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Actor } from '../trust/actor.js';
import { INTERNAL_APIS } from '../runtime/internal-api.js';
import { createInternalAuth, operationHash, TOKEN_TTL_SECONDS, type InternalAuth, type ServiceName } from '../trust/internal-token.js';
import { generateDevKeys, keyringOf, type DevKeys } from '../trust/keys.js';
import { SUBGRAPH_NAMES, SUBGRAPH_PEERS } from '../runtime/services.js';

const actor: Actor = { sub: 'dr-a', role: 'clinician', org: 'org-county-north', scope: 'user/*.rs', patient: null, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: null };
const OPERATION = operationHash('{ patient(id: "x") { id } }', {});
const FACTS = INTERNAL_APIS.consentFacts;

describe('internal tokens', () => {
  let keys: DevKeys;
  const auth = {} as Record<ServiceName, InternalAuth>;
  beforeAll(async () => {
    keys = await generateDevKeys('unit-');
    for (const name of ['gateway', ...SUBGRAPH_NAMES] as ServiceName[]) auth[name] = createInternalAuth(keyringOf(keys.internal, name));
  });
  afterEach(() => vi.useRealTimers());

  it('carry the actor to the subgraph and the operation they were signed for, once', async () => {
    const token = auth.gateway.signActorToken('labs', actor, 'rid-1', OPERATION);
    expect(await auth.labs.verifyActorToken(token, OPERATION)).toEqual({ actor, requestId: 'rid-1', caller: 'gateway' });
    await expect(auth.labs.verifyActorToken(token, OPERATION)).rejects.toThrow(/already used/);
  });

  it('are refused for another operation, another subgraph, tampered, or signed by a subgraph', async () => {
    await expect(auth.labs.verifyActorToken(auth.gateway.signActorToken('labs', actor, 'r', OPERATION), 'other')).rejects.toThrow(/another operation/);
    await expect(auth.labs.verifyActorToken(auth.gateway.signActorToken('imaging', actor, 'r', OPERATION), OPERATION)).rejects.toThrow(/another service/);
    const [head, payload, signature] = auth.gateway.signActorToken('labs', actor, 'r', OPERATION).split('.');
    const widened = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), act: { ...actor, role: 'admin' } })).toString('base64url');
    await expect(auth.labs.verifyActorToken(`${head}.${widened}.${signature}`, OPERATION)).rejects.toThrow(/signature/);
    // identity signing with its own key cannot make an actor token (it is not the gateway).
    const fromIdentity = auth.identity.signActorToken('labs', actor, 'r', OPERATION);
    await expect(auth.labs.verifyActorToken(fromIdentity, OPERATION)).rejects.toThrow(/gateway/);
  });

  it('expire', async () => {
    const token = auth.gateway.signActorToken('labs', actor, 'r', OPERATION);
    vi.useFakeTimers({ now: Date.now() + (TOKEN_TTL_SECONDS + 10) * 1000 });
    await expect(auth.labs.verifyActorToken(token, OPERATION)).rejects.toThrow(/expired/);
  });

  it('let a subgraph call an API it is a caller of, under the gateway token of the same request, for that body', async () => {
    const via = auth.gateway.signActorToken('labs', actor, 'rid-2', OPERATION);
    const body = JSON.stringify({ patientIds: ['p'] });
    const token = auth.labs.signCallToken({ audience: 'identity', path: FACTS.path, body, requestId: 'rid-2', via });
    await expect(auth.identity.verifyCallToken(token, FACTS.path, '{"patientIds":["q"]}', FACTS.callers)).rejects.toThrow(/another call/);
    expect(await auth.identity.verifyCallToken(token, FACTS.path, body, FACTS.callers)).toEqual({ actor, requestId: 'rid-2', caller: 'labs' });
    await expect(auth.identity.verifyCallToken(token, FACTS.path, body, FACTS.callers)).rejects.toThrow(/already used/);
  });

  it('refuse callers the API does not list, and subgraphs without authority of their own request', async () => {
    const body = '{}';
    const via = auth.gateway.signActorToken('labs', actor, 'rid-3', OPERATION);
    const audit = INTERNAL_APIS.auditEvents;
    await expect(auth.identity.verifyCallToken(auth.labs.signCallToken({ audience: 'identity', path: audit.path, body, requestId: 'rid-3', via }), audit.path, body, audit.callers)).rejects.toThrow(/may not call/);
    await expect(auth.identity.verifyCallToken(auth.labs.signCallToken({ audience: 'identity', path: FACTS.path, body, requestId: 'rid-3' }), FACTS.path, body, FACTS.callers)).rejects.toThrow(/authorising/);
    await expect(auth.identity.verifyCallToken(auth.labs.signCallToken({ audience: 'identity', path: FACTS.path, body, requestId: 'rid-4', via }), FACTS.path, body, FACTS.callers)).rejects.toThrow(/another request/);
    // A gateway token given to labs does not authorise imaging.
    await expect(auth.identity.verifyCallToken(auth.imaging.signCallToken({ audience: 'identity', path: FACTS.path, body, requestId: 'rid-3', via }), FACTS.path, body, FACTS.callers)).rejects.toThrow();
  });

  it('follow a chain of calls back to the gateway (encounters → public-health → encounters)', async () => {
    const root = auth.gateway.signActorToken('encounters', actor, 'rid-5', OPERATION);
    const plan = INTERNAL_APIS.dischargePlan;
    const stay = INTERNAL_APIS.inpatientStay;
    const first = auth.encounters.signCallToken({ audience: 'public-health', path: plan.path, body: '{}', requestId: 'rid-5', via: root });
    const second = auth['public-health'].signCallToken({ audience: 'encounters', path: stay.path, body: '{}', requestId: 'rid-5', via: first });
    expect((await auth.encounters.verifyCallToken(second, stay.path, '{}', stay.callers)).actor).toEqual(actor);
  });

  it('need the public key listed for a service to match its private key', async () => {
    const keyring = keyringOf(keys.internal, 'labs');
    expect(() => createInternalAuth({ ...keyring, publicJwks: { ...keyring.publicJwks, labs: keys.internal.imaging.publicJwk } })).toThrow(/does not match/);
  });
});

describe('internal API table', () => {
  it('agrees with the peers each subgraph is configured to reach (SUBGRAPH_PEERS)', async () => {
    for (const name of SUBGRAPH_NAMES) {
      const owners = new Set(Object.values(INTERNAL_APIS).filter((api) => (api.callers as readonly string[]).includes(name)).flatMap((api) => api.owners));
      expect([...owners].sort(), name).toEqual([...SUBGRAPH_PEERS[name]].sort());
    }
  });
});
