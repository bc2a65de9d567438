/**
 * The five subgraphs, by name. Apart from lib/runtime/services.ts (ports,
 * environment) because code that also runs in the browser names them: the
 * catalogue of record types (lib/records/record-types.ts), which the web client reads.
 */
export const SUBGRAPH_NAMES = ['identity', 'encounters', 'labs', 'imaging', 'public-health'] as const;
export type SubgraphName = (typeof SUBGRAPH_NAMES)[number];

export const isSubgraphName = (name: string): name is SubgraphName => (SUBGRAPH_NAMES as readonly string[]).includes(name);
