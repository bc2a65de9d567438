/**
 * Serves the built front end (web/dist, produced by `npm run web:build` or by
 * `npm start`) in development: the reference web client under `/app/` and
 * the files the explorer page loads. Production gateways serve none of it.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Route } from '../../lib/runtime/http.js';
import { ROOT } from '../../lib/runtime/subgraph.js';

export const WEB_DIST = path.join(ROOT, 'web', 'dist');
/** Where the web client is mounted (Vite's `base`). */
export const WEB_BASE = '/app/';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * The page's own code only: no inline scripts, no other origin. GraphiQL's
 * editor (Monaco) runs its language services in workers and sets styles
 * inline.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:", "font-src 'self' data:",
  "connect-src 'self'", "worker-src 'self' blob:", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'",
].join('; ');

export const htmlHeaders = { 'content-security-policy': CONTENT_SECURITY_POLICY, 'referrer-policy': 'no-referrer' };

/** A file of web/dist, or null when it is not there (or the path leaves the folder). */
export function readWebFile(relative: string, dist = WEB_DIST): Buffer | null {
  const file = path.resolve(dist, relative.replace(/^\/+/, ''));
  if (file !== dist && !file.startsWith(dist + path.sep)) return null;
  if (!existsSync(file) || !statSync(file).isFile()) return null;
  return readFileSync(file);
}

export const contentTypeOf = (file: string) => CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';

const notBuilt = (what: string) => ({
  status: 503,
  contentType: 'text/html; charset=utf-8',
  headers: htmlHeaders,
  body: `<!doctype html><meta charset="utf-8"><title>Not built</title><p>The ${what} is not built yet: run <code>npm run web:build</code> (or restart <code>npm start</code>, which builds it).</p>`,
});

/** GET `/app/…`: files of the build, and index.html for any other path of the single-page app. */
export function webAppRoute(dist = WEB_DIST): Route {
  return async (request): ReturnType<Route> => {
    const { pathname } = request.url;
    if (pathname === WEB_BASE.slice(0, -1)) return { status: 308, body: '', headers: { location: WEB_BASE } };
    if (!pathname.startsWith(WEB_BASE)) return undefined;
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
    const relative = decodeURIComponent(pathname.slice(WEB_BASE.length));
    const asset = relative && !relative.endsWith('.html') ? readWebFile(relative, dist) : null;
    if (asset) {
      // Vite names built assets by content hash: they never change under the same name.
      const headers: Record<string, string> = relative.startsWith('assets/') ? { 'cache-control': 'public, max-age=31536000, immutable' } : {};
      return { status: 200, body: asset, contentType: contentTypeOf(relative), headers };
    }
    if (relative.startsWith('assets/')) return { status: 404, body: 'Not found', contentType: 'text/plain; charset=utf-8' };
    const index = readWebFile('index.html', dist);
    if (!index) return notBuilt('web client');
    return { status: 200, body: index, contentType: CONTENT_TYPES['.html'], headers: htmlHeaders };
  };
}

export { notBuilt };
