/**
 * The development identity provider of `docker compose -f docker-compose.local.yml up`
 * (docs/deployment.md, "Trying it locally with Docker Compose"): the gateway
 * trusts its tokens through AUTH_ISSUER / AUTH_JWKS_URL, exactly as it
 * trusts a real provider's. Never for production: it gives anyone who can
 * reach it any token (it is published on 127.0.0.1 only).
 *
 *   GET /jwks.json                       its public key (the gateway's AUTH_JWKS_URL)
 *   GET /token?role=clinician&org=org-county-north[&patient=…&scope=…&sub=…&client_id=…]
 *                                        a token, checked as the gateway checks one (text/plain)
 *   GET /ready                           200 once it can sign
 *
 * Its key is written by local-setup (scripts/local-setup.ts) under
 * LOCAL_IDP_KEY_DIR (/keys/local-idp, its own volume); issuer LOCAL_IDP_ISSUER, port LOCAL_IDP_PORT.
 */
import http from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { JWK } from 'jose';
import { actorFromClaims, ActorError } from '../lib/trust/actor.js';
import { defaultScope, mintDevToken } from '../lib/trust/dev-token.js';
import { DEFAULT_AUDIENCE } from '../lib/trust/keys.js';

const directory = process.env.LOCAL_IDP_KEY_DIR ?? '/keys/local-idp';
const issuer = process.env.LOCAL_IDP_ISSUER ?? 'http://local-idp:4010';
const audience = process.env.AUTH_AUDIENCE ?? DEFAULT_AUDIENCE;
const port = Number(process.env.LOCAL_IDP_PORT ?? 4010);
const privateJwk = JSON.parse(await readFile(path.join(directory, 'local-issuer.private.jwk.json'), 'utf8')) as JWK;
const jwks = await readFile(path.join(directory, 'local-issuer.jwks.json'), 'utf8');
const CLAIMS = ['role', 'org', 'patient', 'scope', 'sub', 'client_id', 'purpose_of_use', 'break_glass_reason'] as const;

const server = http.createServer(async (request, response) => {
  const url = new URL(request.url ?? '/', 'http://local-idp');
  const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
    response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    response.end(body);
  };
  if (request.method !== 'GET') return send(405, 'GET only\n');
  if (url.pathname === '/ready') return send(200, 'ready\n');
  if (url.pathname === '/jwks.json') return send(200, jwks, 'application/json');
  if (url.pathname !== '/token') return send(404, 'GET /token?role=…&org=…, /jwks.json\n');
  const claims: Record<string, string> = {};
  for (const name of CLAIMS) {
    const value = url.searchParams.get(name);
    if (value) claims[name] = value;
  }
  claims.sub ??= `${claims.role ?? 'user'}-${claims.org ?? claims.patient ?? 'local'}`;
  claims.scope ??= claims.role ? defaultScope(claims.role as never) : '';
  try {
    actorFromClaims(claims); // what the gateway would refuse is refused here, in one line
  } catch (error) {
    return send(400, `${error instanceof ActorError ? error.message : 'invalid claims'}\n`);
  }
  send(200, `${await mintDevToken(privateJwk, claims as never, { issuer, audience, expiresIn: '8h' })}\n`);
});
server.listen(port, '0.0.0.0', () => console.log(`local-idp: development identity provider on :${port} (issuer ${issuer})`));
