/**
 * Layout rules the code base keeps: the running services never depend on the
 * synthetic data generator (its registry and value sets are demo data; a
 * deployment's registry lives in identity and its code systems in
 * lib/terminology.ts). Only seeders, scripts and tests import lib/synthetic.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../lib/subgraph.js';

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((name) => {
    const file = path.join(directory, name);
    if (name === 'node_modules' || name === 'test') return [];
    return statSync(file).isDirectory() ? sourceFiles(file) : file.endsWith('.ts') ? [file] : [];
  });
}

const isSeeder = (file: string) => /(^|\/)seed[^/]*\.ts$/.test(file) || file.startsWith('lib/synthetic/');

describe('layout', () => {
  it('keeps lib/synthetic out of the running services (only seeders import it)', () => {
    const runtime = ['lib', 'gateway', 'subgraphs'].flatMap((dir) => sourceFiles(path.join(ROOT, dir))).map((file) => path.relative(ROOT, file));
    expect(runtime.length).toBeGreaterThan(30);
    const offenders = runtime.filter((file) => !isSeeder(file) && /from '[^']*synthetic\//.test(readFileSync(path.join(ROOT, file), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
