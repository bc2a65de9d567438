/**
 * The web client's dev server (`npx vite --config web/vite.config.ts`,
 * docs/frontend.md) forwards API calls to the gateway `npm start` runs: on
 * GATEWAY_PORT when the user moved it (issue 24: it went to port 4000
 * whatever GATEWAY_PORT said), or to GATEWAY_ORIGIN when set. Checked with
 * Vite's own server and a stand-in gateway over HTTP.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import { ROOT } from '../lib/runtime/subgraph.js';

/** A stand-in for the gateway: says which one it is, and what it was asked. */
async function gateway(name: string) {
  const server = http.createServer((request, response) => response.end(`${name} ${request.method} ${request.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('the web client\'s dev server', () => {
  const opened: { close(): unknown }[] = [];
  const saved = { GATEWAY_PORT: process.env.GATEWAY_PORT, GATEWAY_ORIGIN: process.env.GATEWAY_ORIGIN };
  afterEach(async () => {
    for (const one of opened.splice(0)) await one.close();
    for (const [name, value] of Object.entries(saved)) if (value === undefined) delete process.env[name]; else process.env[name] = value;
  });

  /** Vite's dev server as the docs start it (the config file is read, and the environment with it, when it starts). */
  async function devServer(env: Record<string, string | undefined>): Promise<string> {
    for (const [name, value] of Object.entries(env)) if (value === undefined) delete process.env[name]; else process.env[name] = value;
    const server: ViteDevServer = await createServer({ configFile: path.join(ROOT, 'web', 'vite.config.ts'), logLevel: 'silent', server: { host: '127.0.0.1', port: 0 } });
    opened.push(server);
    await server.listen();
    return `http://127.0.0.1:${(server.httpServer!.address() as AddressInfo).port}`;
  }

  it('forwards /graphql and /dev to the gateway on GATEWAY_PORT', { timeout: 120_000 }, async () => {
    const moved = await gateway('moved');
    opened.push(moved.server);
    const origin = await devServer({ GATEWAY_PORT: String(moved.port), GATEWAY_ORIGIN: undefined });
    expect(await (await fetch(`${origin}/graphql`, { method: 'POST', body: '{}' })).text()).toBe('moved POST /graphql');
    expect(await (await fetch(`${origin}/dev/demo`)).text()).toBe('moved GET /dev/demo');
  });

  it('forwards to GATEWAY_ORIGIN when it is set, whatever GATEWAY_PORT says', { timeout: 120_000 }, async () => {
    const [named, moved] = [await gateway('named'), await gateway('moved')];
    opened.push(named.server, moved.server);
    const origin = await devServer({ GATEWAY_PORT: String(moved.port), GATEWAY_ORIGIN: `http://127.0.0.1:${named.port}` });
    expect(await (await fetch(`${origin}/graphql`, { method: 'POST', body: '{}' })).text()).toBe('named POST /graphql');
  });
});
