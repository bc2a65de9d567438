/**
 * `npx tsx scripts/profile-summary.ts <dir> [--skip seconds]`: summarises the
 * V8 CPU profiles (`.cpuprofile`) of `npm run bench -- --profile <dir>`: for
 * each process, the share of its CPU time spent in each package (or in the
 * product's own code, by file) and the functions with the most self time.
 * `--skip` leaves out the first seconds of each profile (start-up: loading
 * and compiling modules), so what remains is the steady state under load.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const directory = process.argv[2] ?? 'profiles';
const skipIndex = process.argv.indexOf('--skip');
const skipMicros = skipIndex > 0 ? Number(process.argv[skipIndex + 1]) * 1e6 : 0;
const where = (url: string) => {
  if (!url) return '(native/idle)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const root = url.indexOf('/work/');
  return root >= 0 ? url.slice(url.indexOf('/', root + 6) + 1) : url;
};

for (const file of readdirSync(directory).filter((f) => f.endsWith('.cpuprofile')).sort()) {
  const profile = JSON.parse(readFileSync(path.join(directory, file), 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let elapsed = 0;
  profile.samples.forEach((id, i) => {
    elapsed += profile.timeDeltas[i] ?? 0;
    if (elapsed >= skipMicros) self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self].filter(([id]) => ['(idle)', '(program)', '(garbage collector)'].includes(byId.get(id)!.callFrame.functionName));
  const busy = total - idle.filter(([id]) => byId.get(id)!.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);
  const byPlace = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, time] of self) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName === '(idle)') continue;
    const place = ['(program)', '(garbage collector)'].includes(node.callFrame.functionName) ? node.callFrame.functionName : where(node.callFrame.url);
    byPlace.set(place, (byPlace.get(place) ?? 0) + time);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${where(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + time);
  }
  const top = (map: Map<string, number>, n: number) => [...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, t]) => `${(100 * t / busy).toFixed(1).padStart(5)}%  ${k}`);
  console.log(`\n${file}: ${(busy / 1e6).toFixed(1)} s busy of ${(total / 1e6).toFixed(1)} s`);
  console.log('  by package / file:\n    ' + top(byPlace, 15).join('\n    '));
  console.log('  by function (self time):\n    ' + top(byFunction, 15).join('\n    '));
}
