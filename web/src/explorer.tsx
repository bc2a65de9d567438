/**
 * The GraphQL explorer page (GraphiQL, bundled from its npm package). The
 * gateway serves it at GET /graphql in development with a configuration in
 * `#explorer-config`: the endpoint and a development token with
 * `schema:read`, prefilled in the headers editor (the clinician `npm start`
 * prints), and the demo patient, whose chart (the README's query) the page
 * opens on.
 */
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

interface ExplorerConfig {
  endpoint: string;
  token: string;
  actor: string;
  patientId?: string;
  chartQuery?: string;
}

const config = JSON.parse(document.getElementById('explorer-config')?.textContent ?? '{}') as Partial<ExplorerConfig>;
const endpoint = config.endpoint ?? '/graphql';
const headers = JSON.stringify({ Authorization: `Bearer ${config.token ?? '<paste a token>'}` }, null, 2);

const HEADER = `# Development explorer, signed in as ${config.actor ?? 'nobody (no token)'}.
# The token in the Headers tab may read the schema (schema:read); every
# query runs under the same consent rules and audit trail as any other.
`;
const SEARCH = `${HEADER}query FindPatients($name: String) {
  searchPatients(name: $name, first: 5) {
    edges {
      cursor
      node { id name { text } birthDate gender }
    }
    pageInfo { hasNextPage endCursor }
  }
}
`;
// With demo data: the README's chart query for the patient npm start prints (press Run).
const [initialQuery, initialVariables] = config.chartQuery && config.patientId
  ? [`${HEADER}# The patient npm start printed; the same query as the README's "Run it".\n${config.chartQuery}\n`, JSON.stringify({ id: config.patientId }, null, 2)]
  : [SEARCH, '{ "name": "an" }'];

// The token also travels as the fetcher's default header: GraphiQL introspects before its
// headers editor is ready. The Headers tab shows it and, edited, overrides it.
const fetcher = createGraphiQLFetcher({
  url: new URL(endpoint, window.location.origin).toString(),
  headers: config.token ? { Authorization: `Bearer ${config.token}` } : {},
});

createRoot(document.getElementById('explorer')!).render(
  <StrictMode>
    <div style={{ height: '100vh' }}>
      <GraphiQL fetcher={fetcher} initialQuery={initialQuery} initialVariables={initialVariables} initialHeaders={headers} defaultHeaders={headers} defaultEditorToolsVisibility="headers" shouldPersistHeaders={false} />
    </div>
  </StrictMode>,
);
