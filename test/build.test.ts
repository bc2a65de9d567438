/**
 * Production runs compiled JavaScript (`npm run build`, then
 * `node dist/scripts/service.js <service>`), so the compiled path is exercised
 * here, not just compiled: the build config is compiled into a scratch
 * directory under the package root (where dist/ lives), and a subgraph and the
 * gateway are started from it, from another working directory, until their
 * `/health` answers. They read schema/ and the migrations from the package
 * root, not from the output directory.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../lib/runtime/subgraph.js';

const require = createRequire(import.meta.url);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Started {
  child: ChildProcess;
  output: () => string;
}

/** Starts `node <out>/scripts/service.js <name>` and waits for `/health` to answer 200. */
async function startCompiled(out: string, cwd: string, name: string, port: number, env: Record<string, string>): Promise<Started> {
  let output = '';
  const child = spawn(process.execPath, [path.join(out, 'scripts', 'service.js'), name], {
    cwd,
    env: { ...process.env, NODE_ENV: 'development', HOST: '127.0.0.1', DEV_KEY_DIR: path.join(cwd, 'keys'), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    const status = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status, () => 0);
    if (status === 200) return { child, output: () => output };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  child.kill('SIGKILL');
  throw new Error(`${name} did not answer /health within 60 s:\n${output}`);
}

describe('compiled JavaScript (npm run build)', () => {
  let out: string;
  let cwd: string;
  const started: Started[] = [];

  beforeAll(() => {
    mkdirSync(path.join(ROOT, '.data'), { recursive: true });
    out = mkdtempSync(path.join(ROOT, '.data', 'build-test-'));
    cwd = mkdtempSync(path.join(os.tmpdir(), 'fpr-build-cwd-'));
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', out], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  });

  afterAll(async () => {
    for (const { child } of started) {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }
    if (out) rmSync(out, { recursive: true, force: true });
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('compiles the services and scripts, without the tests, and no package.json of its own', () => {
    expect(existsSync(path.join(out, 'scripts', 'service.js'))).toBe(true);
    expect(existsSync(path.join(out, 'gateway', 'src', 'server.js'))).toBe(true);
    expect(existsSync(path.join(out, 'subgraphs', 'labs', 'src', 'resolvers.js'))).toBe(true);
    expect(existsSync(path.join(out, 'test'))).toBe(false);
    expect(existsSync(path.join(out, 'subgraphs', 'labs', 'test'))).toBe(false);
    // The package root is found by walking up to the nearest package.json.
    expect(existsSync(path.join(out, 'package.json'))).toBe(false);
  });

  it('imports only production dependencies from the service entry point (the image installs nothing else)', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(file, 'utf8');
      for (const [, specifier] of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s*)['"]([^'"]+)['"]/gm)) {
        if (specifier!.startsWith('.')) visit(path.resolve(path.dirname(file), specifier!));
        else if (!specifier!.startsWith('node:') && !builtinModules.includes(specifier!)) {
          packages.add(specifier!.split('/').slice(0, specifier!.startsWith('@') ? 2 : 1).join('/'));
        }
      }
    };
    visit(path.join(out, 'scripts', 'service.js'));
    expect(seen.size).toBeGreaterThan(20);
    expect([...packages].filter((name) => !(name in pkg.dependencies))).toEqual([]);
  });

  it('runs a subgraph and the gateway from the compiled output, reading schema and migrations from the package root', async () => {
    const labsPort = await freePort();
    const labs = await startCompiled(out, cwd, 'labs', labsPort, { LABS_DATABASE_URL: 'memory://', LABS_PORT: String(labsPort) });
    started.push(labs);
    // It composed its schema from schema/labs.graphql and migrated its database before listening.
    // (Log lines leave a buffer: lib/runtime/logger.ts.)
    await expect.poll(() => labs.output(), { timeout: 5_000 }).toMatch(new RegExp(`"url":"http://127.0.0.1:${labsPort}/graphql".*"msg":"labs listening"`));

    // The gateway reads the supergraph from schema/ at start.
    const gatewayPort = await freePort();
    const gateway = await startCompiled(out, cwd, 'gateway', gatewayPort, {
      GATEWAY_PORT: String(gatewayPort),
      LABS_URL: `http://127.0.0.1:${labsPort}/graphql`,
    });
    started.push(gateway);
    await expect.poll(() => gateway.output(), { timeout: 5_000 }).toContain('"msg":"gateway listening"');
    // Two cold Node processes loading every module: on a busy two-core machine that alone takes a minute.
  }, 180_000);
});
