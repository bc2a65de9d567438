/**
 * Layout rules the code base keeps: the running services never depend on the
 * synthetic data generator (its registry and value sets are demo data; a
 * deployment's registry lives in identity, administered at run time, and its
 * code systems in lib/records/terminology.ts). Only seeders, scripts and tests import
 * lib/synthetic, and a service process never even loads it: neither directly
 * nor through any module it imports.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../lib/runtime/subgraph.js';

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const file = path.join(directory, name);
    if (name === 'node_modules' || name === 'test') return [];
    return statSync(file).isDirectory() ? sourceFiles(file) : file.endsWith('.ts') ? [file] : [];
  });
}

const isSeeder = (file: string) => /(^|\/)seed[^/]*\.ts$/.test(file) || file.startsWith('lib/synthetic/') || file === 'subgraphs/seeders.ts';
const isSynthetic = (file: string) => file.startsWith('lib/synthetic/');

/** The repository files a module imports (relative imports, `.js` resolved to the `.ts` source), type-only imports left out. */
function importsOf(file: string): string[] {
  const source = readFileSync(path.join(ROOT, file), 'utf8');
  const specifiers = [...source.matchAll(/^\s*(import|export)(?!\s+type\b)[^'";]*?from\s+'(\.{1,2}\/[^']+)'|import\(\s*'(\.{1,2}\/[^']+)'\s*\)/gm)]
    .map((match) => match[2] ?? match[3]!);
  return specifiers.map((specifier) => {
    const resolved = path.relative(ROOT, path.resolve(path.dirname(path.join(ROOT, file)), specifier.replace(/\.js$/, '.ts')));
    return existsSync(path.join(ROOT, resolved)) ? resolved : path.join(resolved.replace(/\.ts$/, ''), 'index.ts');
  });
}

/** The first import chain from `root` to lib/synthetic, if there is one. */
function pathToSynthetic(root: string): string[] | null {
  const seen = new Set<string>([root]);
  const queue: string[][] = [[root]];
  while (queue.length) {
    const chain = queue.shift()!;
    for (const next of importsOf(chain.at(-1)!)) {
      if (isSynthetic(next)) return [...chain, next];
      if (seen.has(next) || !existsSync(path.join(ROOT, next))) continue;
      seen.add(next);
      queue.push([...chain, next]);
    }
  }
  return null;
}

describe('layout', () => {
  const runtime = ['lib', 'gateway', 'subgraphs'].flatMap((dir) => sourceFiles(path.join(ROOT, dir))).map((file) => path.relative(ROOT, file));

  it('keeps lib/synthetic out of the running services (only seeders import it)', () => {
    expect(runtime.length).toBeGreaterThan(30);
    const offenders = runtime.filter((file) => !isSeeder(file) && /from '[^']*synthetic\//.test(readFileSync(path.join(ROOT, file), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('never loads lib/synthetic in a service process, through any chain of imports', () => {
    // What `node dist/scripts/service.js <service>` runs, and every module of the services.
    const roots = ['scripts/service.ts', ...runtime.filter((file) => !isSeeder(file))];
    const chains = roots.map(pathToSynthetic).filter((chain): chain is string[] => chain !== null).map((chain) => chain.join(' → '));
    expect(chains).toEqual([]);
    // The check sees through imports: the seeding commands do reach it.
    expect(pathToSynthetic('scripts/seed-data.ts')).not.toBeNull();
    expect(pathToSynthetic('subgraphs/seeders.ts')?.join(' → ')).toMatch(/^subgraphs\/seeders\.ts → subgraphs\/\w+(-\w+)?\/src\/seed\.ts → lib\/synthetic\//);
  });
});
