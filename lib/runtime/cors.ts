/**
 * Cross-origin access (CORS) for browser apps served from another origin.
 *
 * Only the origins named in configuration (`CORS_ALLOWED_ORIGINS`,
 * comma-separated exact origins such as `https://timeline.example.org`;
 * none by default) are answered with `Access-Control-Allow-Origin`. Tokens
 * travel in the `Authorization` header, never in cookies, so credentials are
 * not allowed. CSRF protection stays with Apollo Server (`csrfPrevention`):
 * a simple cross-site request (text/plain, form posts) is still refused even
 * from an allowed origin, because it carries no preflighted header.
 */
import type http from 'node:http';
import { errorBody, ErrorCode } from './errors.js';

export interface CorsPolicy {
  /** Exact origins (scheme://host[:port]) allowed to call the service. */
  allowedOrigins: string[];
}

export const CORS_ALLOWED_METHODS = ['GET', 'POST', 'OPTIONS'];
/** Request headers a browser may send cross-origin. */
export const CORS_ALLOWED_HEADERS = ['authorization', 'content-type', 'x-request-id', 'apollo-require-preflight', 'x-apollo-operation-name', 'accept'];
/** Response headers a cross-origin script may read. */
export const CORS_EXPOSED_HEADERS = ['x-request-id', 'www-authenticate'];
/** How long a browser may cache a preflight answer (seconds). */
export const CORS_MAX_AGE = 600;

/** Parses `CORS_ALLOWED_ORIGINS`: comma-separated origins; refuses anything that is not a bare origin. */
export function parseAllowedOrigins(value: string | undefined): string[] {
  if (!value?.trim()) return [];
  return value.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry) => {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`CORS_ALLOWED_ORIGINS: ${entry} is not an origin (scheme://host[:port])`);
    }
    if (entry === '*' || !/^https?:$/.test(url.protocol) || url.origin !== entry.replace(/\/$/, '')) {
      throw new Error(`CORS_ALLOWED_ORIGINS: ${entry} is not an origin (scheme://host[:port], no path)`);
    }
    return url.origin;
  });
}

/**
 * Applies the policy to one request. Sets the CORS response headers for an
 * allowed origin, and answers a preflight (`OPTIONS` with
 * `Access-Control-Request-Method`) itself: 204 for an allowed origin, 403 for
 * any other. Returns true when the response was sent.
 */
export function applyCors(policy: CorsPolicy | undefined, request: http.IncomingMessage, response: http.ServerResponse): boolean {
  const origin = request.headers.origin;
  const preflight = request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined;
  if (!policy || policy.allowedOrigins.length === 0) {
    if (!preflight || !origin) return false;
    return refusePreflight(response);
  }
  // Answers differ by origin: caches must keep them apart.
  response.setHeader('vary', 'Origin');
  const allowed = typeof origin === 'string' && policy.allowedOrigins.includes(origin);
  if (allowed) {
    response.setHeader('access-control-allow-origin', origin);
    response.setHeader('access-control-expose-headers', CORS_EXPOSED_HEADERS.join(', '));
  }
  if (!preflight) return false;
  if (!allowed) return refusePreflight(response);
  response.writeHead(204, {
    'access-control-allow-methods': CORS_ALLOWED_METHODS.join(', '),
    'access-control-allow-headers': CORS_ALLOWED_HEADERS.join(', '),
    'access-control-max-age': String(CORS_MAX_AGE),
    'cache-control': 'no-store',
  });
  response.end();
  return true;
}

function refusePreflight(response: http.ServerResponse): true {
  response.writeHead(403, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(errorBody(ErrorCode.forbidden, 'This origin may not call the API: it is not in CORS_ALLOWED_ORIGINS'));
  return true;
}
