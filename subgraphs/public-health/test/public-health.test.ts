import { subgraphSuite } from '../../../test/support/subgraph-suite.js';

// The gateway reaches this subgraph's Patient fields through _entities.
subgraphSuite('public-health', {
  query: 'query($id: ID!) { _entities(representations: [{ __typename: "Patient", id: $id }]) { ... on Patient { immunizations(first: 100) { edges { node { id } } } } } }',
  expectedIds: (b) => [...b.immunizations].sort((x, y) => y.occurrence.getTime() - x.occurrence.getTime() || (y.id < x.id ? -1 : 1)).slice(0, 100).map((r) => r.id),
  idsOf: (data) => data._entities[0]?.immunizations.edges.map((e: { node: { id: string } }) => e.node.id) ?? [],
  category: 'immunizations',
});
