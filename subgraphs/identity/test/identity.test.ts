import { subgraphSuite } from '../../../test/support/subgraph-suite.js';

subgraphSuite('identity', {
  query: 'query($id: ID!) { patient(id: $id) { id identifiers { value } } }',
  expectedIds: (b) => [b.patient.id],
  idsOf: (data) => (data.patient ? [data.patient.id] : []),
  category: 'demographics',
});
