/**
 * Development-only HTTP routes of the gateway: the explorer (GraphiQL), the
 * reference web client under `/app/`, and `POST /dev/token`, which mints demo
 * tokens with the development issuer key so the web client can sign in as
 * any demo role. A production gateway registers none of them (startGateway
 * refuses development options in production), so these paths answer 404
 * there.
 */
import type { JWK } from 'jose';
import { actorFromClaims, ActorError, ROLES } from '../../lib/trust/actor.js';
import { mintDevToken, type TokenClaims } from '../../lib/trust/dev-token.js';
import { errorBody, ErrorCode } from '../../lib/runtime/errors.js';
import type { Route } from '../../lib/runtime/http.js';
import { explorerRoute, explorerTokenClaims, FALLBACK_DEMO_ORGANIZATION, type DemoExample } from './explorer.js';
import { webAppRoute } from './web-assets.js';

export interface DevelopmentOptions {
  /** The development issuer's private key (lib/trust/keys.ts), the one the gateway's verifier trusts outside production. */
  issuerPrivateKey: JWK;
  /** Where the built front end is (default web/dist). */
  webDist?: string;
  /** The demo patient and their registering organisation (npm start's banner): the explorer's and the sign-in's defaults. */
  demo?: DemoExample | null;
}

export const DEV_TOKEN_PATH = '/dev/token';
/** `GET /dev/demo`: the demo example (the web client's sign-in defaults to it). */
export const DEV_DEMO_PATH = '/dev/demo';
export const DEV_TOKEN_LIFETIME = '8h';

/** What `POST /dev/token` accepts (JSON). */
export interface DevTokenRequest {
  role: string;
  org?: string | null;
  patient?: string | null;
  scope?: string | null;
  purposeOfUse?: string | null;
  breakGlassReason?: string | null;
  clientId?: string | null;
  sub?: string | null;
}

const text = (value: unknown, max = 200) => (typeof value === 'string' && value.trim() ? value.trim().slice(0, max) : undefined);

/** Claims of a demo token, checked the way the gateway checks any token's claims. */
export function demoClaims(body: DevTokenRequest): TokenClaims {
  const role = text(body.role);
  if (!role || !(ROLES as readonly string[]).includes(role)) throw new ActorError(`role must be one of ${ROLES.join(', ')}`);
  const org = text(body.org);
  const patient = text(body.patient);
  const claims: TokenClaims = {
    sub: text(body.sub) ?? `demo-${role}${org ? `-${org}` : ''}${patient ? `-${patient.slice(0, 8)}` : ''}`,
    role,
    ...(org ? { org } : {}),
    ...(patient ? { patient } : {}),
    ...(text(body.scope) ? { scope: text(body.scope) } : {}),
    ...(text(body.purposeOfUse) ? { purpose_of_use: text(body.purposeOfUse) } : {}),
    ...(text(body.breakGlassReason, 500) ? { break_glass_reason: text(body.breakGlassReason, 500) } : {}),
    ...(text(body.clientId) ? { client_id: text(body.clientId) } : {}),
  };
  // The same validation as a real token's (a patient token needs its patient, break-glass a reason...).
  actorFromClaims({ ...claims, scope: claims.scope ?? '' });
  return claims;
}

function devTokenRoute(issuerPrivateKey: JWK): Route {
  return async (request) => {
    if (request.url.pathname !== DEV_TOKEN_PATH) return undefined;
    if (request.method !== 'POST') return { status: 405, body: errorBody(ErrorCode.badUserInput, 'POST a JSON body: {"role": "clinician", "org": "org-county-north"}') };
    // JSON only: a cross-site form post cannot mint tokens (a JSON body needs a CORS preflight).
    if (!String(request.headers['content-type'] ?? '').startsWith('application/json')) {
      return { status: 415, body: errorBody(ErrorCode.badUserInput, 'Send application/json') };
    }
    let claims: TokenClaims;
    try {
      claims = demoClaims(JSON.parse(request.body || '{}') as DevTokenRequest);
    } catch (error) {
      const message = error instanceof ActorError ? error.message : 'Request body is not valid JSON';
      return { status: 400, body: errorBody(ErrorCode.badUserInput, message) };
    }
    const token = await mintDevToken(issuerPrivateKey, claims, { expiresIn: DEV_TOKEN_LIFETIME });
    return { status: 200, body: JSON.stringify({ token, claims: { ...claims, scope: claims.scope ?? undefined }, expiresIn: DEV_TOKEN_LIFETIME }) };
  };
}

/** The demo example as JSON: the organisation whose clinician sees the printed patient, and that patient. */
function demoRoute(demo: DemoExample | null | undefined): Route {
  return async (request) => {
    if (request.url.pathname !== DEV_DEMO_PATH) return undefined;
    if (request.method !== 'GET') return { status: 405, body: errorBody(ErrorCode.badUserInput, 'GET only') };
    return { status: 200, body: JSON.stringify({ organizationId: demo?.organizationId ?? FALLBACK_DEMO_ORGANIZATION, patientId: demo?.patientId ?? null }) };
  };
}

/** Every development route, in the order the gateway tries them. */
export function developmentRoutes(options: DevelopmentOptions): Route[] {
  const mintExplorerToken = () => mintDevToken(options.issuerPrivateKey, explorerTokenClaims(options.demo), { expiresIn: DEV_TOKEN_LIFETIME });
  return [
    explorerRoute({ mintToken: mintExplorerToken, dist: options.webDist, demo: options.demo }),
    demoRoute(options.demo),
    devTokenRoute(options.issuerPrivateKey),
    webAppRoute(options.webDist),
  ];
}
