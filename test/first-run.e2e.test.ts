/**
 * The first ten minutes, as a newcomer follows the README: `npm start` (the
 * real script, in its own data and key folders, on free ports, seeding the
 * default demo set), then what the banner prints is tried as printed:
 *
 * - the banner's token and the README's chart query for the banner's patient,
 *   with curl's request (fetch): the patient's name, not `patient: null`;
 * - the explorer (GET /graphql in Chromium): signed in as the same clinician,
 *   open on that chart query; running it shows the name;
 * - the web client's sign-in defaults to that clinician's organisation, and
 *   signed in so, it shows that patient by name;
 * - this first start's resident memory (the banner's) is within the ceiling
 *   docs/production.md gives;
 * - `npm run token` as the README and the banner write it (a nurse of the same
 *   hospital reads the same name; misspelt flags and tokens the gateway would
 *   refuse are one line, exit 2; only the token on a pipe).
 *
 * And the README itself: every link to a section or a file points at one
 * that exists, and its chart query is the explorer's.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART_QUERY } from '../gateway/src/explorer.js';
import { GATEWAY, SUBGRAPH_NAMES, SUBGRAPHS } from '../lib/runtime/services.js';
import { ROOT } from '../lib/runtime/subgraph.js';
import { freePort } from '../scripts/process-stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SKIP_BROWSER = process.env.SKIP_BROWSER_TESTS === '1' && !existsSync(CHROMIUM);
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

describe('npm start as the README says, and what its banner prints', () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'fpr-first-run-'));
  const env: Record<string, string> = {};
  let child: ChildProcess;
  let banner = '';
  let origin: string;
  let token: string;
  let patientId: string;
  let organizationId: string;

  const chart = async (bearer: string) => {
    const response = await fetch(`${origin}/graphql`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ query: CHART_QUERY, variables: { id: patientId } }),
    });
    return (await response.json()) as { data?: { patient: { name: { text: string }[]; birthDate: string } | null }; errors?: unknown[] };
  };
  const runToken = (args: string[]) => {
    try {
      return { code: 0, stdout: execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'token.ts'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] }).toString(), stderr: '' };
    } catch (error) {
      const failed = error as { status: number; stdout: Buffer; stderr: Buffer };
      return { code: failed.status, stdout: failed.stdout.toString(), stderr: failed.stderr.toString() };
    }
  };

  beforeAll(async () => {
    Object.assign(env, { NODE_ENV: 'development', PGLITE_DATA_DIR: path.join(scratch, 'pglite'), DEV_KEY_DIR: path.join(scratch, 'keys') });
    for (const service of [GATEWAY, ...SUBGRAPH_NAMES.map((n) => SUBGRAPHS[n])]) env[`${service.envPrefix}_PORT`] = String(await freePort());
    const { DEMO_PATIENTS: _patients, DEMO_ANCHOR: _anchor, LOG_LEVEL: _level, ...inherited } = process.env;
    // As `npm start` runs it (package.json): the same heap cap.
    child = spawn(process.execPath, ['--max-old-space-size=256', '--expose-gc', '--import', 'tsx', path.join(ROOT, 'scripts', 'start.ts')], {
      cwd: ROOT, env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (chunk) => { stderr += chunk; });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk) => {
        banner += chunk;
        if (/FHIR R4 export of that patient:\n.*\n/.test(banner)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`npm start exited (${code}) before its banner: ${stderr}`)));
    });
    token = /export TOKEN=(\S+)/.exec(banner)![1]!;
    patientId = /patient\(id: \\"([0-9a-f-]{36})\\"\)/.exec(banner)![1]!;
    organizationId = /A clinician token at (\S+) \(/.exec(banner)![1]!;
    origin = `http://127.0.0.1:${env.GATEWAY_PORT}`;
  }, 600_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(scratch, { recursive: true, force: true });
  });

  it('prints a token and a patient that token sees by name (curl)', async () => {
    expect(banner).toMatch(/Ready in [\d.]+ s \(seeded 200 demo patients/);
    expect(banner).toContain(`GraphQL endpoint:  ${origin}/graphql`);
    const answer = await chart(token);
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.patient!.name[0]!.text).toMatch(/\w+ \w+/);
    // An adult: the README's examples show a recognisable history.
    const age = (Date.now() - Date.parse(answer.data!.patient!.birthDate)) / (365.25 * 86_400_000);
    expect(age).toBeGreaterThanOrEqual(18);
  });

  it('holds no more memory on this first start than docs/production.md says (the banner\'s resident figure)', () => {
    const documented = /A first start stays within ([\d,]+) MB resident/.exec(readFileSync(path.join(ROOT, 'docs', 'production.md'), 'utf8'));
    expect(documented).not.toBeNull();
    const resident = Number(/, (\d+) MB resident\./.exec(banner)![1]);
    console.log(`first start: ${resident} MB resident (documented ceiling ${documented![1]} MB)`);
    expect(resident).toBeLessThanOrEqual(Number(documented![1]!.replace(/,/g, '')));
  });

  it('opens the explorer as the same clinician, and the web client\'s sign-in on the same organisation', async () => {
    const html = await (await fetch(`${origin}/graphql`, { headers: { accept: 'text/html' } })).text();
    const config = JSON.parse(/<script type="application\/json" id="explorer-config">(.*?)<\/script>/.exec(html)![1]!);
    expect(config.patientId).toBe(patientId);
    expect(config.actor).toContain(organizationId);
    expect((await chart(config.token)).data!.patient!.name).toEqual((await chart(token)).data!.patient!.name);
    expect(await (await fetch(`${origin}/dev/demo`)).json()).toEqual({ organizationId, patientId });
  });

  it.skipIf(SKIP_BROWSER)('shows the patient\'s name in the explorer (Chromium): the README chart query, run as opened', async () => {
    const name = (await chart(token)).data!.patient!.name[0]!.text;
    const profile = mkdtempSync(path.join(os.tmpdir(), 'fpr-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      page.setDefaultTimeout(60_000);
      await page.goto(`${origin}/graphql`, { waitUntil: 'load' });
      await page.locator('.graphiql-container').waitFor();
      // Run it once the editor holds the query and the schema has loaded (on a busy machine a click before is lost).
      await expect.poll(async () => (await page.locator('.graphiql-query-editor').textContent())?.replace(/\s+/g, ''), { timeout: 120_000 }).toContain('patient(id:$id)');
      await page.getByRole('button', { name: /Show Documentation Explorer/i }).click();
      await page.getByText('Root Types').waitFor({ timeout: 120_000 });
      await page.locator('.graphiql-execute-button').click();
      // The response editor wraps long lines wherever the pane ends (a name may break at its space): compare without whitespace.
      await expect.poll(async () => (await page.locator('.graphiql-response').textContent())?.replace(/\s+/g, ''), { timeout: 120_000 }).toContain(`"text":"${name.replace(/\s+/g, '')}"`);
      // The sign-in form opens on the banner's organisation.
      await page.goto(`${origin}/app/`);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await expect.poll(() => page.getByLabel('Organisation').inputValue(), { timeout: 60_000 }).toBe(organizationId);
      // Signed in as it opens (a clinician of that organisation), the banner's patient is there by name.
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Find a patient' }).waitFor();
      await page.goto(`${origin}/app/?reload=1#/patient/${patientId}`);
      await page.getByRole('heading', { name }).waitFor({ timeout: 60_000 });
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  }, 420_000);

  it('mints the banner\'s other tokens with npm run token; refuses in one line what the gateway would refuse', async () => {
    const nurse = runToken(['--role', 'nurse', '--org', organizationId]);
    expect(nurse.code).toBe(0);
    // A pipe gets the token alone (T=$(npm run -s token -- ...) works).
    expect(nurse.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect((await chart(nurse.stdout.trim())).data!.patient!.name).toEqual((await chart(token)).data!.patient!.name);
    for (const [args, message] of [
      [['--rol', 'admin'], /Unknown option '--rol'/],
      [['--role', 'nurse'], /role nurse needs an org/],
      [['--role', 'clinician', '--org', organizationId, '--purpose', 'ETREAT'], /break-glass \(ETREAT\) needs a reason/],
      [['--role', 'patient'], /needs a patient/],
    ] as const) {
      const run = runToken([...args]);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr).toMatch(message);
    }
    const help = runToken(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: npm run token -- --role/);
  }, 300_000); // six token CLI runs, each a tsx start: a minute or more on a busy machine
});

describe('the README', () => {
  /** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
  const slug = (heading: string) => heading.trim().toLowerCase().replace(/[`*_]/g, '').replace(/[^\p{L}\p{N}\s-]/gu, '').replace(/\s/g, '-');
  const withoutCode = (text: string) => text.replace(/```[\s\S]*?```/g, '');

  it('links only to sections and files that exist', () => {
    const anchors = new Set(withoutCode(README).split('\n').filter((line) => /^#{1,6} /.test(line)).map((line) => slug(line.replace(/^#+ /, ''))));
    const links = [...withoutCode(README).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
    const broken = links.filter((link) => {
      if (/^[a-z]+:/.test(link)) return false;
      if (link.startsWith('#')) return !anchors.has(link.slice(1));
      return !existsSync(path.join(ROOT, link.split('#')[0]!));
    });
    expect(links.length).toBeGreaterThan(5);
    expect(broken).toEqual([]);
    // And sections named in quotes ("see \"Paging\"") exist too.
    const quoted = [...withoutCode(README).matchAll(/see "([A-Z][^"]+)"/g)].map((m) => m[1]!);
    expect(quoted.filter((name) => !anchors.has(slug(name)))).toEqual([]);
  });

  it('shows the chart query the explorer opens on', () => {
    expect(README).toContain(CHART_QUERY);
  });
});
