/**
 * A small HTTP front for Apollo Server shared by the gateway and subgraphs:
 * `/graphql` (POST; GET only for health-check style probes is refused),
 * `/health`, and extra routes a service registers (internal APIs, SDL
 * download). Request bodies are capped before they are parsed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { applyCors, type CorsPolicy } from './cors.js';
import { errorBody, ErrorCode } from './errors.js';

export interface HttpRequestInfo {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Route = (request: HttpRequestInfo) => Promise<{ status: number; body: string | Uint8Array; contentType?: string; headers?: Record<string, string> } | undefined>;

export interface HttpServiceOptions<TContext extends BaseContext> {
  apollo: ApolloServer<TContext>;
  /** Builds the GraphQL context; may throw a GraphQLError (e.g. UNAUTHENTICATED). */
  context: (request: HttpRequestInfo, parsedBody: unknown) => Promise<TContext>;
  routes?: Route[];
  health: () => Promise<Record<string, unknown>>;
  maxBodyBytes: number;
  /** Serve Apollo's landing page to browsers (development gateway only). */
  landingPage?: boolean;
  /** Cross-origin access for browser apps (lib/cors.ts); none when absent. */
  cors?: CorsPolicy;
  /** A different body cap for some requests (the gateway's FHIR writes and HL7 v2); maxBodyBytes otherwise. */
  bodyLimit?: (request: { method: string; url: URL }) => number | undefined;
  host: string;
  port: number;
}

export interface RunningHttpService {
  url: string;
  port: number;
  close(): Promise<void>;
}

class BodyTooLarge extends Error {}

function readBody(request: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new BodyTooLarge());
      request.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** RFC 6750: a 401 tells the client how to authenticate. */
export const WWW_AUTHENTICATE = 'Bearer realm="federated-patient-record"';

const json = (response: http.ServerResponse, status: number, body: string | Uint8Array, contentType = 'application/json; charset=utf-8', headers: Record<string, string> = {}) => {
  response.writeHead(status, {
    'content-type': contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff',
    ...(status === 401 ? { 'www-authenticate': WWW_AUTHENTICATE } : {}),
    ...headers,
  });
  response.end(body);
};

export async function startHttpService<TContext extends BaseContext>(options: HttpServiceOptions<TContext>): Promise<RunningHttpService> {
  const { apollo } = options;
  await apollo.start();
  const server = http.createServer(async (request, response) => {
    try {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const method = request.method ?? 'GET';
      if (applyCors(options.cors, request, response)) return;
      if (url.pathname === '/health' && method === 'GET') {
        json(response, 200, JSON.stringify({ status: 'ok', ...(await options.health()) }));
        return;
      }
      let body = '';
      // PUT carries a body too (FHIR updates).
      if (method === 'POST' || method === 'PUT') body = await readBody(request, options.bodyLimit?.({ method, url }) ?? options.maxBodyBytes);
      const info: HttpRequestInfo = { method, url, headers: request.headers, body };
      for (const route of options.routes ?? []) {
        const handled = await route(info);
        if (handled) {
          json(response, handled.status, handled.body, handled.contentType, handled.headers);
          return;
        }
      }
      if (url.pathname !== '/graphql' && url.pathname !== '/') {
        json(response, 404, errorBody(ErrorCode.notFound, 'Not found'));
        return;
      }
      // A browser opening the endpoint gets Apollo's landing page (development only; production disables it).
      const wantsLandingPage = Boolean(options.landingPage) && method === 'GET' && String(request.headers.accept ?? '').includes('text/html') && !url.searchParams.has('query');
      if (method !== 'POST' && !wantsLandingPage) {
        json(response, 405, errorBody(ErrorCode.badUserInput, 'Send GraphQL operations as POST application/json'));
        return;
      }
      let parsed: unknown;
      try {
        parsed = body ? JSON.parse(body) : undefined;
      } catch {
        json(response, 400, errorBody(ErrorCode.badUserInput, 'Request body is not valid JSON'));
        return;
      }
      const headers = new HeaderMap();
      for (const [key, value] of Object.entries(request.headers)) {
        if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
      }
      const result = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method, headers, search: url.search, body: parsed },
        context: () => options.context(info, parsed),
      });
      const outHeaders: Record<string, string> = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
      for (const [key, value] of result.headers) outHeaders[key] = value;
      if (result.status === 401) outHeaders['www-authenticate'] = WWW_AUTHENTICATE;
      response.writeHead(result.status ?? 200, outHeaders);
      if (result.body.kind === 'complete') {
        response.end(result.body.string);
      } else {
        for await (const chunk of result.body.asyncIterator) response.write(chunk);
        response.end();
      }
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        json(response, 413, errorBody(ErrorCode.payloadTooLarge, `Request body larger than ${options.maxBodyBytes} bytes`));
        return;
      }
      if (!response.headersSent) json(response, 500, errorBody(ErrorCode.internal, 'Internal server error'));
      else response.end();
    }
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host === '0.0.0.0' ? '127.0.0.1' : options.host}:${port}/graphql`,
    port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await apollo.stop();
    },
  };
}
