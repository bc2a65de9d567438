/**
 * The product runs on Node.js 22: the `node` devDependency puts the Node 22
 * binary in node_modules/.bin, which npm puts first on PATH for `npm test`,
 * `npm start` and every `npm run` script (the machine's own Node may be older).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../lib/runtime/subgraph.js';

const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};

describe('runtime', () => {
  it('runs on Node.js 22', () => {
    expect(process.versions.node).toMatch(/^22\./);
  });

  it('gets Node 22 from the node devDependency, whose install script npm is allowed to run', () => {
    expect(pkg.devDependencies.node).toMatch(/^\^?22\./);
    expect(pkg.engines.node).toBe('>=22.15');
    // The `node` package fetches its platform binary in a preinstall script;
    // npm 11 runs dependencies' install scripts only when allowScripts approves them.
    expect(Object.entries(pkg.allowScripts ?? {}).some(([name, allowed]) => /^node(@|$)/.test(name) && allowed)).toBe(true);
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    expect(major > 22 || (major === 22 && minor >= 15)).toBe(true);
  });
});
