/**
 * The README and docs/ are what a user has on a clone: every relative link in
 * them must lead somewhere, to a file that exists and, when the link names an
 * anchor, to a heading of that file (GitHub's anchor rule: lower case,
 * punctuation dropped, spaces to hyphens). The README stays short: a page a
 * newcomer reads through, pointing into docs/.
 */
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');
const DOCUMENTS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** Markdown outside fenced code blocks (links in code are examples, not links). */
function prose(text: string): string {
  return text.split(/^```.*$/m).filter((_, i) => i % 2 === 0).join('\n');
}

export function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, '').replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const headings = [...prose(readFileSync(path.join(ROOT, file), 'utf8')).matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchorOf(m[1]!.replace(/`/g, '')));
  return new Set(headings);
}

function linksOf(file: string): string[] {
  const text = prose(readFileSync(path.join(ROOT, file), 'utf8')).replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((target) => !/^[a-z]+:/i.test(target));
}

describe('documentation links', () => {
  it.each(DOCUMENTS)('%s: every relative link resolves to a file and a heading', (file) => {
    const broken: string[] = [];
    for (const link of linksOf(file)) {
      const [target, anchor] = link.split('#') as [string, string | undefined];
      const resolved = target ? path.normalize(path.join(path.dirname(file), target)) : file;
      if (!existsSync(path.join(ROOT, resolved))) { broken.push(`${link}: no file ${resolved}`); continue; }
      if (anchor && statSync(path.join(ROOT, resolved)).isFile() && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) broken.push(`${link}: no heading #${anchor} in ${resolved}`);
    }
    expect(broken).toEqual([]);
  });

  it('keeps the README short, with a map of docs/ that names every document', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
    const linked = new Set(linksOf('README.md').map((l) => l.split('#')[0]));
    expect(DOCUMENTS.filter((d) => d !== 'README.md' && !linked.has(d))).toEqual([]);
  });
});
