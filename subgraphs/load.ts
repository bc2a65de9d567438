/**
 * One subgraph's module, loaded on its own. A service process runs one
 * subgraph (scripts/service.ts, one process per service as in production):
 * loading the other four, and the gateway, would keep their code in its heap
 * for nothing, and the heap is capped (lib/runtime/services.ts
 * NODE_HEAP_OPTIONS), so every megabyte of code held is a megabyte less for
 * requests before the garbage collector has to run. In-process stacks
 * (tests, scripts/stack.ts) use all five at once: subgraphs/index.ts.
 */
import type { SubgraphName } from '../lib/runtime/services.js';
import type { SubgraphModule } from '../lib/runtime/subgraph.js';

const LOADERS: Record<SubgraphName, () => Promise<SubgraphModule>> = {
  identity: async () => (await import('./identity/src/index.js')).identity,
  encounters: async () => (await import('./encounters/src/index.js')).encounters,
  labs: async () => (await import('./labs/src/index.js')).labs,
  imaging: async () => (await import('./imaging/src/index.js')).imaging,
  'public-health': async () => (await import('./public-health/src/index.js')).publicHealth,
};

export const loadSubgraphModule = (name: SubgraphName): Promise<SubgraphModule> => LOADERS[name]();
