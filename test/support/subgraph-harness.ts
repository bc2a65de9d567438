/**
 * Subgraph-level harness: one subgraph (plus identity, which owns the consent
 * facts every subgraph needs) on in-memory PGlite, seeded with generated
 * patients, called directly over HTTP the way the gateway calls it, with a
 * gateway-signed actor token.
 */
import type { Actor } from '../../lib/trust/actor.js';
import { generateDevKeys, type DevKeys } from '../../lib/trust/keys.js';
import { ACTOR_TOKEN_HEADER } from '../../lib/trust/internal-token.js';
import { keyringOf } from '../../lib/trust/keys.js';
import { internalSigners } from './internal.js';
import type { SubgraphName } from '../../lib/runtime/services.js';
import { openSubgraphDatabase, startSubgraph, type RunningSubgraph } from '../../lib/runtime/subgraph.js';
import { DEFAULT_SEED, TEST_ANCHOR } from '../../lib/synthetic/generator.js';
import { seedPatients, seedReferenceData } from '../../scripts/seed-data.js';
import { SUBGRAPH_MODULES } from '../../subgraphs/index.js';
import { postGraphQL, type GraphQLResponse } from './harness.js';

export interface SubgraphUnderTest {
  subgraph: RunningSubgraph;
  keys: DevKeys;
  /** Calls the subgraph as the gateway would, for this actor. */
  call<T = any>(actor: Actor, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>>;
  close(): Promise<void>;
}

export const patientActor = (patientId: string): Actor => ({
  sub: `patient-${patientId}`, role: 'patient', org: null, scope: 'patient/*.rs', patient: patientId, purposeOfUse: 'TREAT', breakGlassReason: null, clientId: null,
});

export async function startSubgraphUnderTest(name: SubgraphName, patients = 20): Promise<SubgraphUnderTest> {
  const keys = await generateDevKeys('test-');
  const names: SubgraphName[] = name === 'identity' ? ['identity'] : ['identity', name];
  const running = {} as Record<SubgraphName, RunningSubgraph>;
  // Only identity and the subgraph under test run; other peers are not reached by these tests.
  const peers = (peer: SubgraphName) => (running[peer] ?? running.identity).url;
  for (const subgraphName of names) {
    const database = await openSubgraphDatabase(subgraphName, 'memory://');
    await seedReferenceData({ [subgraphName]: database }, DEFAULT_SEED);
    await seedPatients({ [subgraphName]: database }, { seed: DEFAULT_SEED, anchor: TEST_ANCHOR, patients });
    running[subgraphName] = await startSubgraph(SUBGRAPH_MODULES[subgraphName].module, {
      databaseUrl: 'memory://', database, host: '127.0.0.1', port: 0, keyring: keyringOf(keys.internal, subgraphName), production: true, peers,
    });
  }
  const signers = internalSigners(keys);
  const subgraph = running[name];
  return {
    subgraph,
    keys,
    call: async (actor, query, variables) => {
      const token = signers.actorToken(name, actor, query, variables, 'subgraph-test');
      return postGraphQL(subgraph.url, { [ACTOR_TOKEN_HEADER]: token }, { query, variables });
    },
    close: async () => {
      for (const subgraphName of names) await running[subgraphName].close();
    },
  };
}
