/**
 * Builds the front end (the reference web client and the GraphQL explorer)
 * with Vite into web/dist, when it is missing or stale: `npm run web:build`
 * (`--force` to rebuild anyway), and `npm start` before it serves it. A build
 * is stale when any file it is made from changed: web/ (but dist), the
 * product's modules the client bundles (lib/records/record-types.ts and its imports),
 * and the lockfile (dependency versions). The fingerprint of those files is kept in
 * web/dist/.build-fingerprint.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from '../lib/runtime/subgraph.js';

export const WEB_ROOT = path.join(ROOT, 'web');
export const WEB_DIST = path.join(WEB_ROOT, 'dist');
const FINGERPRINT = path.join(WEB_DIST, '.build-fingerprint');
/** One build at a time on this checkout (test files run in parallel processes). */
const LOCK = path.join(ROOT, '.data', 'web-build.lock');
const LOCK_STALE_MS = 180_000;

function inputs(directory: string): string[] {
  return readdirSync(directory).sort().flatMap((name) => {
    const file = path.join(directory, name);
    if (file === WEB_DIST || name === 'node_modules') return [];
    return statSync(file).isDirectory() ? inputs(file) : [file];
  });
}

/**
 * The product's own modules outside web/ the client bundles (the catalogue of
 * record types and what it imports), following relative imports from web/src.
 */
function sharedModules(): string[] {
  const found = new Set<string>();
  const queue = inputs(path.join(WEB_ROOT, 'src')).filter((file) => /\.tsx?$/.test(file));
  while (queue.length) {
    const file = queue.shift()!;
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
      const target = path.resolve(path.dirname(file), specifier!.replace(/\.js$/, '.ts'));
      if (target.startsWith(WEB_ROOT + path.sep) || found.has(target) || !existsSync(target)) continue;
      found.add(target);
      queue.push(target);
    }
  }
  return [...found].sort();
}

/** A hash of every file the build is made from. */
export function webFingerprint(): string {
  const hash = createHash('sha256');
  for (const file of [...inputs(WEB_ROOT), ...sharedModules(), path.join(ROOT, 'package-lock.json')]) {
    hash.update(path.relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

export function webBuildIsFresh(): boolean {
  return existsSync(path.join(WEB_DIST, 'index.html')) && existsSync(path.join(WEB_DIST, 'explorer.html'))
    && existsSync(FINGERPRINT) && readFileSync(FINGERPRINT, 'utf8').trim() === webFingerprint();
}

async function withBuildLock<T>(work: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(LOCK), { recursive: true });
  for (const deadline = Date.now() + LOCK_STALE_MS; ;) {
    try {
      closeSync(openSync(LOCK, 'wx'));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      // A build that died left its lock: take it over.
      const held = statSync(LOCK, { throwIfNoEntry: false });
      if (!held) continue;
      if (Date.now() - held.mtimeMs > LOCK_STALE_MS) rmSync(LOCK, { force: true });
      else if (Date.now() > deadline) throw new Error('Timed out waiting for another build of web/dist');
      else await sleep(250);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(LOCK, { force: true });
  }
}

/** Runs this script in a child process (`npm run web:build`), so what the bundler holds leaves with it. */
async function buildInChildProcess(quiet: boolean): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), ...(quiet ? ['--quiet'] : [])], { cwd: ROOT, stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  const code = await new Promise<number | null>((resolve, reject) => { child.once('error', reject); child.once('exit', resolve); });
  if (code !== 0) throw new Error(stderr.trim().split('\n').filter(Boolean).slice(-3).join(' ') || `the build exited with ${code}`);
}

/**
 * Builds web/dist unless it is up to date; returns whether it built.
 * `separateProcess` builds in a child process: Vite's bundler (native code)
 * keeps about 700 MB resident after a build, which a long-running `npm start`
 * would otherwise carry for its whole life (first start 1.4 GB against about
 * 660 MB when web/dist was already built).
 */
export async function ensureWebBuild(options: { force?: boolean; quiet?: boolean; separateProcess?: boolean } = {}): Promise<{ built: boolean; ms: number }> {
  const started = Date.now();
  if (!options.force && webBuildIsFresh()) return { built: false, ms: 0 };
  if (options.separateProcess) {
    await buildInChildProcess(options.quiet ?? false);
    return { built: true, ms: Date.now() - started };
  }
  return withBuildLock(async () => {
    // Another process may have built it while this one waited.
    if (!options.force && webBuildIsFresh()) return { built: false, ms: 0 };
    const fingerprint = webFingerprint();
    // Vite is a development dependency: loaded only when a build is needed.
    const { build } = await import('vite');
    await build({ configFile: path.join(WEB_ROOT, 'vite.config.ts'), logLevel: options.quiet ? 'warn' : 'info', mode: 'production' });
    writeFileSync(FINGERPRINT, `${fingerprint}\n`);
    return { built: true, ms: Date.now() - started };
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { built, ms } = await ensureWebBuild({ force: process.argv.includes('--force'), quiet: process.argv.includes('--quiet') });
  console.log(built ? `built web/dist in ${(ms / 1000).toFixed(1)} s` : 'web/dist is up to date');
}
