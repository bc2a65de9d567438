/**
 * Every environment variable the product reads is documented (issue 24: a
 * newcomer met PGLITE_DATA_DIR and GATEWAY_ORIGIN only in the code). The
 * variables are found in the source as it reads them (`process.env.NAME`,
 * `env.NAME`, `env['NAME']`) in the services, the libraries, the web client's
 * dev server and the scripts a user runs (benchmarks and tests excepted:
 * their own settings are in their headers); each must appear in the README
 * or docs/, by name or as `<SUBGRAPH>_…` / `<PREFIX>_…` for the per-service
 * ones, and `NAME(_FILE)` for a file variant.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GATEWAY, SUBGRAPH_NAMES, SUBGRAPHS } from '../lib/runtime/services.js';
import { serviceKeyPairs } from '../lib/trust/keys.js';
import { ROOT } from '../lib/runtime/subgraph.js';

const USER_SCRIPTS = ['start', 'service', 'token', 'bootstrap', 'internal-keys', 'app', 'demo', 'local-setup', 'local-idp', 'web-build', 'audit-verify'];

function sources(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const at = path.join(directory, entry);
    if (statSync(at).isDirectory()) return entry === 'test' || entry === 'node_modules' || entry === 'dist' ? [] : sources(at);
    return /\.tsx?$/.test(entry) && !/\.test\.tsx?$/.test(entry) ? [at] : [];
  });
}

const files = [
  ...sources(path.join(ROOT, 'lib')),
  ...sources(path.join(ROOT, 'gateway', 'src')),
  ...SUBGRAPH_NAMES.flatMap((name) => sources(path.join(ROOT, 'subgraphs', name, 'src'))),
  path.join(ROOT, 'web', 'vite.config.ts'),
  ...USER_SCRIPTS.map((name) => path.join(ROOT, 'scripts', `${name}.ts`)),
];

/** Variable names each file reads. */
const readBy = new Map<string, Set<string>>();
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  for (const match of text.matchAll(/\benv(?:\.([A-Z][A-Z0-9_]{2,})\b|\[['"]([A-Z][A-Z0-9_]{2,})['"]\])/g)) {
    const name = match[1] ?? match[2]!;
    if (!readBy.has(name)) readBy.set(name, new Set());
    readBy.get(name)!.add(path.relative(ROOT, file));
  }
}

const docs = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]
  .map((file) => readFileSync(path.join(ROOT, file), 'utf8')).join('\n');
const PREFIXES = [GATEWAY, ...SUBGRAPH_NAMES.map((name) => SUBGRAPHS[name])].map((service) => `${service.envPrefix}_`);

function documented(name: string): boolean {
  if (docs.includes(name)) return true;
  if (name.endsWith('_FILE') && docs.includes(`${name.slice(0, -'_FILE'.length)}(_FILE)`)) return true;
  const prefix = PREFIXES.find((p) => name.startsWith(p));
  if (prefix) {
    const rest = name.slice(prefix.length);
    return docs.includes(`<SUBGRAPH>_${rest}`) || docs.includes(`<PREFIX>_${rest}`);
  }
  return false;
}

describe('the documentation of configuration', () => {
  it('finds the variables the code reads', () => {
    // The scan works: variables known to be read are found where they are read.
    expect(readBy.get('PGLITE_DATA_DIR')).toContain('lib/runtime/services.ts');
    expect(readBy.get('GATEWAY_ORIGIN')).toContain('web/vite.config.ts');
    expect(readBy.size).toBeGreaterThan(30);
  });

  it('names every one of them in the README or docs/', () => {
    const missing = [...readBy].filter(([name]) => !documented(name)).map(([name, where]) => `${name} (${[...where].join(', ')})`);
    expect(missing).toEqual([]);
  });

  it('names the internal keys by the curve the product makes them on (deploy/kubernetes spoke of Ed25519)', async () => {
    const pairs = await serviceKeyPairs('internal-', 'docs-check');
    const curves = new Set(Object.values(pairs).map((pair) => pair.privateJwk.crv));
    expect([...curves]).toEqual(['X25519']);
    const kustomization = readFileSync(path.join(ROOT, 'deploy', 'kubernetes', 'kustomization.yaml'), 'utf8');
    expect(kustomization).toContain(`${[...curves][0]} private key`);
    for (const [file, text] of [['deploy/kubernetes/kustomization.yaml', kustomization], ['docs and README', docs]]) expect(text, file).not.toMatch(/Ed25519/);
  });
});
