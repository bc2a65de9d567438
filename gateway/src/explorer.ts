/**
 * The GraphQL explorer: GraphiQL from its npm package, bundled with the web
 * client (web/explorer.html, built into web/dist; nothing comes from a CDN),
 * served at `GET /graphql` to browsers (Accept: text/html) by a gateway in
 * development. The page comes with a development token prefilled in its
 * headers editor: a clinician token with `schema:read`, so the schema loads
 * (introspection stays refused to tokens without it) and operations run under
 * the same consent rules as any other clinician's. Production gateways serve
 * no explorer.
 */
import type { Route } from '../../lib/runtime/http.js';
import { htmlHeaders, notBuilt, readWebFile, WEB_DIST } from './web-assets.js';

/** The token the explorer page is opened with: who it acts as. */
export const EXPLORER_TOKEN_CLAIMS = {
  sub: 'explorer-dev',
  role: 'clinician',
  org: 'org-county-north',
  scope: 'user/*.cruds schema:read',
} as const;

/** What the page reads from its `#explorer-config` element. */
export interface ExplorerConfig {
  endpoint: string;
  token: string;
  actor: string;
}

export const wantsHtml = (accept: string | string[] | undefined) => String(accept ?? '').includes('text/html');

/** Embeds the configuration as JSON data (not script), safe inside HTML. */
export function injectConfig(html: string, config: ExplorerConfig): string {
  const json = JSON.stringify(config).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return html.replace('</head>', `<script type="application/json" id="explorer-config">${json}</script></head>`);
}

export function explorerRoute(options: { mintToken: () => Promise<string>; dist?: string }): Route {
  return async (request) => {
    const { pathname, searchParams } = request.url;
    if ((pathname !== '/graphql' && pathname !== '/') || request.method !== 'GET') return undefined;
    if (!wantsHtml(request.headers.accept) || searchParams.has('query')) return undefined;
    const page = readWebFile('explorer.html', options.dist ?? WEB_DIST);
    if (!page) return notBuilt('explorer');
    const actor = `${EXPLORER_TOKEN_CLAIMS.role} at ${EXPLORER_TOKEN_CLAIMS.org} (${EXPLORER_TOKEN_CLAIMS.scope})`;
    const body = injectConfig(page.toString('utf8'), { endpoint: '/graphql', token: await options.mintToken(), actor });
    return { status: 200, body, contentType: 'text/html; charset=utf-8', headers: htmlHeaders };
  };
}
