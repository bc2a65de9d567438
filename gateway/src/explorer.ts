/**
 * The GraphQL explorer: GraphiQL from its npm package, bundled with the web
 * client (web/explorer.html, built into web/dist; nothing comes from a CDN),
 * served at `GET /graphql` to browsers (Accept: text/html) by a gateway in
 * development. The page comes with a development token prefilled in its
 * headers editor: a clinician token with `schema:read`, so the schema loads
 * (introspection stays refused to tokens without it) and operations run under
 * the same consent rules as any other clinician's. Production gateways serve
 * no explorer.
 *
 * The token is the one `npm start` prints (the same claims: a clinician of
 * the county hospital that registered the demo patient), and the page opens
 * on the README's chart query for that patient: what a newcomer reads in the
 * terminal is what the explorer shows. A patient's demographics reach staff
 * through their organisation's registration (docs/consent.md), so a token of
 * any other organisation would answer `patient: null` for that id.
 */
import type { Route } from '../../lib/runtime/http.js';
import { htmlHeaders, notBuilt, readWebFile, WEB_DIST } from './web-assets.js';

/**
 * The demo example of a development gateway: a patient the README's queries
 * show something for, and the organisation that registered them (its
 * clinician is who `npm start`, the explorer and the web client's sign-in
 * act as). Chosen by scripts/demo.ts from the databases.
 */
export interface DemoExample {
  patientId: string;
  organizationId: string;
}

/** The organisation the explorer acts for when the databases hold no demo patient. */
export const FALLBACK_DEMO_ORGANIZATION = 'org-county-north';

/** The claims of the demo clinician token (clinical scopes and schema:read, so the same token introspects): npm start's banner and the explorer. */
export const demoClinicianClaims = (organizationId: string) => ({ sub: 'dr-demo', role: 'clinician', org: organizationId, scope: 'user/*.cruds schema:read' });

/** The token the explorer page is opened with: who it acts as (the banner's clinician). */
export const explorerTokenClaims = (demo?: DemoExample | null) => demoClinicianClaims(demo?.organizationId ?? FALLBACK_DEMO_ORGANIZATION);

/** The README's chart query ("Run it"), which the explorer opens on for the demo patient. */
export const CHART_QUERY = `query Chart($id: ID!) {
  patient(id: $id) {
    name { text } birthDate gender
    identifiers { system value assigner { name } }
    encounters(first: 10, from: "2025-01-01T00:00:00Z") {
      edges { node { class period { start end } organization { name } reason { code display } diagnoses { code { code display } } } }
      pageInfo { hasNextPage endCursor }
    }
    observations(first: 20, code: "718-7") { edges { node { code { display } valueQuantity { value unit } interpretation { code } effectiveDateTime } } }
    imagingStudies { edges { node { studyInstanceUid modality { code } bodySite { display } report { impression } } } }
    immunizations { edges { node { vaccineCode { code display } doseNumber occurrenceDateTime } } }
    consents { decision actorType actorId categories active }
  }
}`;

/** What the page reads from its `#explorer-config` element. */
export interface ExplorerConfig {
  endpoint: string;
  token: string;
  actor: string;
  /** The demo patient the page opens the chart query on (absent without demo data). */
  patientId?: string;
  /** The query the page opens with when there is a demo patient. */
  chartQuery?: string;
}

export const wantsHtml = (accept: string | string[] | undefined) => String(accept ?? '').includes('text/html');

/** Embeds the configuration as JSON data (not script), safe inside HTML. */
export function injectConfig(html: string, config: ExplorerConfig): string {
  const json = JSON.stringify(config).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return html.replace('</head>', `<script type="application/json" id="explorer-config">${json}</script></head>`);
}

export function explorerRoute(options: { mintToken: () => Promise<string>; dist?: string; demo?: DemoExample | null }): Route {
  return async (request) => {
    const { pathname, searchParams } = request.url;
    if ((pathname !== '/graphql' && pathname !== '/') || request.method !== 'GET') return undefined;
    if (!wantsHtml(request.headers.accept) || searchParams.has('query')) return undefined;
    const page = readWebFile('explorer.html', options.dist ?? WEB_DIST);
    if (!page) return notBuilt('explorer');
    const claims = explorerTokenClaims(options.demo);
    const actor = `${claims.role} at ${claims.org} (${claims.scope})`;
    const body = injectConfig(page.toString('utf8'), {
      endpoint: '/graphql', token: await options.mintToken(), actor,
      ...(options.demo ? { patientId: options.demo.patientId, chartQuery: CHART_QUERY } : {}),
    });
    return { status: 200, body, contentType: 'text/html; charset=utf-8', headers: htmlHeaders };
  };
}
