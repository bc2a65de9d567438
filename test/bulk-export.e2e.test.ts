/**
 * FHIR Bulk Data export ($export) end to end, through the gateway over real
 * HTTP, on embedded PGlite and (with TEST_DATABASE_URL) PostgreSQL, the job
 * store included (docs/bulk-export.md): kick-off, polling, the manifest,
 * downloads, cancel, the parameters, the 429 limits, expiry; a public-health
 * caller's export holds exactly what the same caller sees through FHIR search
 * for each cohort patient, nothing of a patient whose deny names the
 * organisation, and every exported patient's audit event is stored before
 * the files can be downloaded.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEED, generatePatient } from '../lib/synthetic/generator.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';

const PATIENTS = 60;
const PRINT = process.env.PRINT_FIGURES === '1';
/** Every type FHIR search serves with records of a patient (Consent aside: directives are not exported). */
const SEARCHED = ['Patient', 'Encounter', 'Condition', 'Observation', 'DiagnosticReport', 'ImagingStudy', 'Immunization', 'ServiceRequest', 'EpisodeOfCare', 'Task', 'AllergyIntolerance'];
const PROGRAM = 'prog-htn';
const bundles = Array.from({ length: PATIENTS }, (_, i) => generatePatient(DEFAULT_SEED, i));
const cohort = bundles.filter((b) => b.enrollments.some((e) => e.programId === PROGRAM && e.status === 'active'));

type Resource = { resourceType: string; id: string; [key: string]: unknown };

describe.each(BACKENDS)('FHIR Bulk Data export (%s)', (backend) => {
  let stack: TestStack;
  let storageDir: string;
  let exportDb: string | null = null;
  let cdc: string;

  const fhir = (token: string | null, pathOrUrl: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> } = {}) =>
    fetch(pathOrUrl.startsWith('http') ? pathOrUrl : `${stack.url.replace(/\/graphql$/, '')}${pathOrUrl}`, {
      ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
    });

  const kickOff = async (token: string, pathAndQuery: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> } = {}) =>
    fhir(token, pathAndQuery, { ...init, headers: { prefer: 'respond-async', accept: 'application/fhir+json', ...init.headers } });

  /** Polls the status URL (respecting Retry-After) until the manifest arrives. */
  async function waitFor(token: string, statusUrl: string): Promise<{ manifest: Manifest; expires: string | null; progressSeen: string[] }> {
    const progressSeen: string[] = [];
    for (let i = 0; i < 600; i++) {
      const response = await fhir(token, statusUrl);
      if (response.status === 200) return { manifest: await response.json() as Manifest, expires: response.headers.get('expires'), progressSeen };
      if (response.status === 202) progressSeen.push(response.headers.get('x-progress') ?? '');
      else if (response.status !== 429) throw new Error(`status ${response.status}: ${await response.text()}`);
      await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get('retry-after') ?? 1)));
    }
    throw new Error('export did not finish');
  }

  interface Manifest { transactionTime: string; request: string; requiresAccessToken: boolean; output: { type: string; url: string; count: number }[]; error: unknown[] }

  async function download(token: string, manifest: Manifest): Promise<Resource[]> {
    const resources: Resource[] = [];
    for (const file of manifest.output) {
      const response = await fhir(token, file.url);
      expect(response.status, file.url).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/fhir+ndjson');
      const lines = (await response.text()).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Resource);
      expect(lines.length, file.url).toBe(file.count);
      for (const r of lines) expect(r.resourceType, file.url).toBe(file.type);
      resources.push(...lines);
    }
    return resources;
  }

  async function runExport(token: string, pathAndQuery: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> } = {}) {
    const kicked = await kickOff(token, pathAndQuery, init);
    expect(kicked.status, await kicked.clone().text()).toBe(202);
    const statusUrl = kicked.headers.get('content-location')!;
    expect(statusUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/fhir\/\$export-status\/[0-9a-f-]{36}$/);
    const done = await waitFor(token, statusUrl);
    return { statusUrl, id: statusUrl.split('/').pop()!, ...done, resources: await download(token, done.manifest) };
  }

  /** Everything FHIR search gives `token` of one patient, every type, every page. */
  async function searchAll(token: string, patientId: string, types: string[]): Promise<Resource[]> {
    const out: Resource[] = [];
    for (const type of types) {
      let url: string | null = type === 'Patient' ? `/fhir/Patient?_id=${patientId}` : `/fhir/${type}?patient=${patientId}&_count=100`;
      while (url) {
        const response = await fhir(token, url);
        expect(response.status, url).toBe(200);
        const bundle = await response.json() as { entry?: { resource: Resource; search: { mode: string } }[]; link: { relation: string; url: string }[] };
        out.push(...(bundle.entry ?? []).filter((e) => e.search.mode === 'match').map((e) => e.resource));
        url = bundle.link.find((l) => l.relation === 'next')?.url ?? null;
      }
    }
    return out;
  }

  const key = (r: Resource) => `${r.resourceType}/${r.id}`;
  const byKey = (list: Resource[]) => new Map(list.map((r) => [key(r), r]));
  const patientOf = (r: Resource): string | undefined => {
    if (r.resourceType === 'Patient') return r.id;
    const ref = (r.subject ?? r.patient ?? r.for) as { reference?: string } | undefined;
    return ref?.reference?.replace(/^Patient\//, '');
  };

  beforeAll(async () => {
    storageDir = await mkdtemp(path.join(os.tmpdir(), 'bulk-export-'));
    let databaseUrl = 'memory://';
    if (backend === 'postgres') {
      exportDb = `bulk_export_${process.pid}_${Date.now()}`;
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${exportDb}`);
      await admin.end();
      const url = new URL(process.env.TEST_DATABASE_URL!);
      url.pathname = `/${exportDb}`;
      databaseUrl = url.toString();
    }
    stack = await startTestStack(backend, {
      patients: PATIENTS,
      bulkExport: { databaseUrl, storageDir, maxResourcesPerFile: 7, minPollSeconds: 0.2, maxActivePerCaller: 2, expirySeconds: 3600, tickMs: 100 },
    });
    cdc = await stack.token({ sub: 'ph-cdc-bulk', role: 'public_health', org: 'org-cdc' });
  });

  afterAll(async () => {
    await stack?.close();
    await rm(storageDir, { recursive: true, force: true });
    if (exportDb) {
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${exportDb} WITH (FORCE)`);
      await admin.end();
    }
  });

  it('says so in the CapabilityStatement', async () => {
    const metadata = await (await fhir(null, '/fhir/metadata')).json() as { instantiates?: string[]; rest: { operation?: { name: string }[]; resource: { type: string; operation?: { name: string }[] }[] }[] };
    expect(metadata.instantiates).toContain('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data');
    expect(metadata.rest[0]!.operation?.map((o) => o.name)).toContain('export');
    for (const type of ['Patient', 'Group']) expect(metadata.rest[0]!.resource.find((r) => r.type === type)?.operation?.map((o) => o.name), type).toContain('export');
  });

  it('lists the programmes the caller may export as Groups', async () => {
    const response = await fhir(cdc, '/fhir/Group');
    expect(response.status).toBe(200);
    const bundle = await response.json() as { entry: { resource: Resource }[] };
    const ids = bundle.entry.map((e) => e.resource.id);
    expect(ids).toContain(PROGRAM);
    expect(bundle.entry.every((e) => (e.resource.managingEntity as { reference: string }).reference === 'Organization/org-cdc')).toBe(true);
    const one = await fhir(cdc, `/fhir/Group/${PROGRAM}`);
    expect(await one.json()).toMatchObject({ resourceType: 'Group', id: PROGRAM, type: 'person', actual: true });
    // Another organisation's public-health staff: not theirs.
    const mch = await stack.token({ sub: 'ph-mch-bulk', role: 'public_health', org: 'org-maternal-child' });
    expect((await fhir(mch, `/fhir/Group/${PROGRAM}`)).status).toBe(404);
    expect((await kickOff(mch, `/fhir/Group/${PROGRAM}/$export`)).status).toBe(404);
  });

  it('exports a cohort: exactly what the same caller sees through FHIR search for every cohort patient, audited before download', async () => {
    expect(cohort.length).toBeGreaterThan(3);
    const result = await runExport(cdc, `/fhir/Group/${PROGRAM}/$export`);
    const { manifest } = result;
    expect(manifest).toMatchObject({ requiresAccessToken: true, error: [] });
    expect(manifest.request).toMatch(new RegExp(`/fhir/Group/${PROGRAM}/\\$export$`));
    expect(Number.isNaN(Date.parse(manifest.transactionTime))).toBe(false);
    expect(result.expires && Date.parse(result.expires)).toBeGreaterThan(Date.now());
    // One resource type per file, at most 7 resources each (the configured limit).
    for (const file of manifest.output) expect(file.count).toBeLessThanOrEqual(7);
    expect(manifest.output.some((f) => f.count === 7)).toBe(true);
    const exported = result.resources;
    const types = [...new Set(exported.map((r) => r.resourceType))];
    expect(types).toContain('Patient');
    expect(types).toContain('EpisodeOfCare');

    // Compare per patient, resource by resource, with FHIR search by the same caller.
    const exportedPatients = new Set(exported.filter((r) => r.resourceType === 'Patient').map((r) => r.id));
    expect([...exportedPatients].sort()).toEqual(cohort.map((b) => b.patient.id).sort());
    const expected: Resource[] = [];
    for (const b of cohort) expected.push(...await searchAll(cdc, b.patient.id, SEARCHED));
    // Every resource valid under the FHIR R4 schema the $everything export passes.
    for (const r of exported) expect(schemaErrors(r), key(r)).toEqual([]);
    // Registry entries (wildcard scopes) are not patient records: every one the records name is there, once.
    const registry = exported.filter((r) => r.resourceType === 'Organization' || r.resourceType === 'Practitioner');
    expect(new Set(registry.map(key)).size).toBe(registry.length);
    const references = new Set([...JSON.stringify(exported).matchAll(/"reference":"((?:Organization|Practitioner|Patient|EpisodeOfCare|Encounter|Observation|Condition)\/[^"]+)"/g)].map((m) => m[1]!));
    for (const reference of references) {
      const from = exported.filter((r) => JSON.stringify(r).includes(`"${reference}"`)).map(key).slice(0, 3);
      expect(registry.some((r) => key(r) === reference) || exported.some((r) => key(r) === reference), `${reference} (from ${from.join(', ')})`).toBe(true);
    }
    const got = byKey(exported.filter((r) => !registry.includes(r)));
    const want = byKey(expected);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    // Resource by resource, equal — except links between records: search builds each match alone and drops a link
    // whose target is not in its bundle, while the export keeps links whose target it holds (they resolve within it).
    const exportedKeys = new Set(exported.map(key));
    const isInternalLink = (value: unknown): boolean => (Array.isArray(value) ? value.every(isInternalLink)
      : Boolean(value && typeof value === 'object' && Object.keys(value).length === 1 && exportedKeys.has(String((value as { reference?: unknown }).reference))));
    let links = 0;
    for (const [k, resource] of want) {
      const mine = { ...got.get(k)! };
      for (const property of Object.keys(mine)) {
        if (property in resource) continue;
        expect(isInternalLink(mine[property]), `${k}.${property}`).toBe(true);
        delete mine[property];
        links++;
      }
      expect(mine, k).toEqual(resource);
    }
    if (PRINT) console.log(`bulk export compared with search: ${want.size} resources, ${links} links kept within the export`);
    for (const r of exported) if (!registry.includes(r)) expect(exportedPatients.has(patientOf(r)!), key(r)).toBe(true);

    // Audit: every exported patient has an event under the export's id (stored before the job completed).
    const events = await stack.databases.identity.query<{ patient_id: string; actor_sub: string }>('SELECT patient_id, actor_sub FROM audit_event WHERE request_id = $1', [result.id]);
    expect(new Set(events.map((e) => e.patient_id))).toEqual(exportedPatients);
    expect(events.every((e) => e.actor_sub === 'ph-cdc-bulk')).toBe(true);
  });

  it('leaves out everything of a patient whose deny names the organisation', async () => {
    const denying = cohort[0]!;
    const patient = await stack.token({ sub: 'bulk-denying', role: 'patient', patient: denying.patient.id });
    const granted = await stack.graphql(patient, 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }', {
      input: { patientId: denying.patient.id, decision: 'DENY', actorType: 'ORGANIZATION', actorId: 'org-cdc' },
    });
    expect(granted.errors, JSON.stringify(granted.errors)).toBeUndefined();
    try {
      const { resources } = await runExport(cdc, `/fhir/Group/${PROGRAM}/$export`);
      const text = JSON.stringify(resources);
      expect(text).not.toContain(denying.patient.id);
      expect(resources.filter((r) => r.resourceType === 'Patient').length).toBe(cohort.length - 1);
    } finally {
      await stack.graphql(patient, 'mutation($id: ID!) { revokeConsent(id: $id) { id } }', { id: granted.data.grantConsent.id });
    }
  });

  it('narrows by _type, _since and _typeFilter (GET and POST), with patient in POST', async () => {
    const typed = await runExport(cdc, `/fhir/Group/${PROGRAM}/$export?_type=Patient,Immunization&_outputFormat=application/fhir%2Bndjson`);
    expect(new Set(typed.resources.map((r) => r.resourceType))).toEqual(new Set(['Patient', ...(cohort.some((b) => b.immunizations.length) ? ['Immunization'] : [])]));

    const all = (await runExport(cdc, `/fhir/Group/${PROGRAM}/$export?_type=EpisodeOfCare,Observation,Patient`)).resources;
    const episodes = all.filter((r) => r.resourceType === 'EpisodeOfCare');
    const observations = all.filter((r) => r.resourceType === 'Observation');
    // `_since` is the records' last-updated time (meta.lastUpdated), not their clinical time (test/last-updated.e2e.test.ts
    // has a correction of an old record): nothing changed after the latest change; everything after a time before the first.
    const updated = observations.map((o) => String((o.meta as { lastUpdated?: string } | undefined)?.lastUpdated)).sort();
    const latest = updated.at(-1)!;
    expect((await runExport(cdc, `/fhir/Group/${PROGRAM}/$export?_type=Observation&_since=${encodeURIComponent(latest)}`)).resources).toEqual([]);
    const earlier = new Date(Date.parse(updated[0]!) - 1000).toISOString();
    const recent = (await runExport(cdc, `/fhir/Group/${PROGRAM}/$export?_type=Observation&_since=${encodeURIComponent(earlier)}`)).resources;
    expect(recent.map(key).sort()).toEqual(observations.map(key).sort());
    expect(recent.length).toBeGreaterThan(0);

    const filtered = (await runExport(cdc, `/fhir/Group/${PROGRAM}/$export?_type=EpisodeOfCare,Patient&_typeFilter=${encodeURIComponent('EpisodeOfCare?type=HTN')}`)).resources;
    const filteredEpisodes = filtered.filter((r) => r.resourceType === 'EpisodeOfCare');
    expect(filteredEpisodes.length).toBeGreaterThan(0);
    expect(filteredEpisodes.length).toBeLessThanOrEqual(episodes.length);
    for (const e of filteredEpisodes) expect(JSON.stringify(e.type)).toContain('"HTN"');
    expect(filtered.filter((r) => r.resourceType === 'Patient').length).toBe(cohort.length);

    const chosen = cohort.slice(0, 2).map((b) => b.patient.id);
    const posted = await runExport(cdc, `/fhir/Group/${PROGRAM}/$export`, {
      method: 'POST', headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Parameters', parameter: [
        { name: '_type', valueString: 'Patient' }, ...chosen.map((id) => ({ name: 'patient', valueReference: { reference: `Patient/${id}` } })),
      ] }),
    });
    expect(posted.resources.map((r) => r.id).sort()).toEqual([...chosen].sort());
  });

  it('_since on a Group: a patient added to the Group since gets all their data, whether enrolled late or starting late (Bulk Data IG v2)', async () => {
    const db = stack.databases['public-health'];
    // Patients outside the cohort, those with immunisations first (records older than _since that only "whole" brings).
    const outsiders = bundles.filter((b) => !cohort.includes(b)).sort((a, b) => b.immunizations.length - a.immunizations.length);
    expect(outsiders.length).toBeGreaterThan(1);
    // `late`: enrolled after _since, its start backdated a month; `planned`: enrolled before _since, starting after it.
    const [late, planned] = [outsiders[0]!.patient.id, outsiders[1]!.patient.id];
    const township = cohort[0]!.enrollments.find((e) => e.programId === PROGRAM)!.organizationId;
    const enrolments = [crypto.randomUUID(), crypto.randomUUID()];
    const enrol = (id: string, patientId: string, start: string) => db.query(
      `INSERT INTO program_enrollment (id, patient_id, program_id, organization_id, status, period_start) VALUES ($1, $2, $3, $4, 'active', ${start})`,
      [id, patientId, PROGRAM, township]);
    try {
      await enrol(enrolments[1]!, planned, "now() + interval '2 seconds'");
      await new Promise((resolve) => setTimeout(resolve, 50));
      const since = new Date((await db.query<{ since: Date | string }>('SELECT now() AS since'))[0]!.since);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await enrol(enrolments[0]!, late, "now() - interval '30 days'");
      await new Promise((resolve) => setTimeout(resolve, 2500)); // `planned` is in force now
      const types = `_type=${SEARCHED.join(',')}`;
      const everything = (await runExport(cdc, `/fhir/Group/${PROGRAM}/$export?${types}`)).resources;
      const lastUpdated = (r: Resource) => Date.parse(String((r.meta as { lastUpdated?: string } | undefined)?.lastUpdated));
      const whole = (patientId: string) => everything.filter((r) => patientOf(r) === patientId).map(key).sort();
      // More than the new enrolment: the patient (unchanged since), and what they had before (immunisations…).
      for (const id of [late, planned]) {
        expect(whole(id), id).toContain(`Patient/${id}`);
        expect(whole(id).length, id).toBeGreaterThan(2);
      }
      expect(everything.filter((r) => [late, planned].includes(patientOf(r)!) && r.resourceType !== 'EpisodeOfCare').every((r) => lastUpdated(r) < since.getTime())).toBe(true);
      const changed = (await runExport(cdc, `/fhir/Group/${PROGRAM}/$export?${types}&_since=${encodeURIComponent(since.toISOString())}`)).resources;
      const of = (patientId: string) => changed.filter((r) => patientOf(r) === patientId).map(key).sort();
      expect(of(late)).toEqual(whole(late));
      expect(of(planned)).toEqual(whole(planned));
      // Everyone else: only what changed after _since, as before.
      const others = changed.filter((r) => ![late, planned].includes(patientOf(r)!));
      for (const r of others) expect(lastUpdated(r), key(r)).toBeGreaterThan(since.getTime());
      expect(others.map(key).sort()).toEqual(everything.filter((r) => ![late, planned].includes(patientOf(r)!) && lastUpdated(r) > since.getTime()).map(key).sort());
    } finally {
      await db.query('DELETE FROM program_enrollment WHERE id = ANY($1::uuid[])', [enrolments]);
    }
  });

  it('refuses bad kick-offs with an OperationOutcome', async () => {
    const outcome = async (response: Response, status: number) => {
      expect(response.status, await response.clone().text()).toBe(status);
      expect(await response.json()).toMatchObject({ resourceType: 'OperationOutcome' });
    };
    await outcome(await fhir(cdc, `/fhir/Group/${PROGRAM}/$export`), 400); // no Prefer: respond-async
    await outcome(await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_count=3`), 400);
    await outcome(await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_type=Banana`), 400);
    await outcome(await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_outputFormat=text/csv`), 400);
    await outcome(await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_since=yesterday`), 400);
    await outcome(await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_typeFilter=${encodeURIComponent('Observation?flavour=sweet')}`), 400);
    await outcome(await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_typeFilter=${encodeURIComponent('Observation?date=ne2024')}`), 400);
    await outcome(await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?patient=Patient/${cohort[0]!.patient.id}`), 400);
    await outcome(await fhir(null, `/fhir/Group/${PROGRAM}/$export`, { headers: { prefer: 'respond-async' } }), 401);
    const clinician = await stack.token({ sub: 'dr-bulk', role: 'clinician', org: 'org-cdc' });
    await outcome(await kickOff(clinician, '/fhir/$export'), 403);
    // Lenient: the unknown parameter is ignored.
    const lenient = await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_type=Patient&_elements=id`, { headers: { prefer: 'respond-async, handling=lenient' } });
    expect(lenient.status).toBe(202);
    await fhir(cdc, lenient.headers.get('content-location')!, { method: 'DELETE' });
  });

  it('answers 429 past the running-exports limit and when polled too often; DELETE cancels (then 404)', async () => {
    const urls: string[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const kicked = await kickOff(cdc, '/fhir/Patient/$export');
        expect(kicked.status).toBe(202);
        urls.push(kicked.headers.get('content-location')!);
      }
      const third = await kickOff(cdc, '/fhir/$export');
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBeTruthy();
      expect(await third.json()).toMatchObject({ resourceType: 'OperationOutcome' });
      // Polled twice at once: the second is too soon.
      const [a, b] = await Promise.all([fhir(cdc, urls[0]!), fhir(cdc, urls[0]!)]);
      expect([a.status, b.status]).toContain(429);
      // Someone else cannot see or cancel it.
      const other = await stack.token({ sub: 'ph-other', role: 'public_health', org: 'org-cdc' });
      expect((await fhir(other, urls[0]!)).status).toBe(404);
      expect((await fhir(other, urls[0]!, { method: 'DELETE' })).status).toBe(404);
    } finally {
      for (const url of urls) {
        const cancelled = await fhir(cdc, url, { method: 'DELETE' });
        expect(cancelled.status).toBe(202);
        const after = await fhir(cdc, url);
        expect(after.status).toBe(404);
        expect(await after.json()).toMatchObject({ resourceType: 'OperationOutcome' });
      }
    }
    // The limit is free again.
    const again = await kickOff(cdc, '/fhir/Patient/$export?_type=Patient');
    expect(again.status).toBe(202);
    const done = await waitFor(cdc, again.headers.get('content-location')!);
    expect(done.manifest.output.length).toBeGreaterThan(0);
  });

  it('deletes the files of an expired export and answers 404 for it', async () => {
    const result = await runExport(cdc, `/fhir/Group/${PROGRAM}/$export?_type=Patient`);
    const file = result.manifest.output[0]!.url;
    expect((await fhir(cdc, file)).status).toBe(200);
    // Another caller cannot download it.
    const other = await stack.token({ sub: 'ph-other-dl', role: 'public_health', org: 'org-cdc' });
    expect((await fhir(other, file)).status).toBe(404);
    expect(await readdir(path.join(storageDir, result.id))).not.toEqual([]);
    await stack.gateway.bulkExport!.store.db.query("UPDATE bulk_export_job SET expires_at = now() - interval '1 second' WHERE id = $1", [result.id]);
    expect((await fhir(cdc, file)).status).toBe(404);
    expect((await fhir(cdc, result.statusUrl)).status).toBe(404);
    for (let i = 0; i < 100 && (await readdir(path.join(storageDir, result.id)).catch(() => null)) !== null; i++) await new Promise((r) => setTimeout(r, 100));
    await expect(readdir(path.join(storageDir, result.id))).rejects.toThrow();
  });

  it('serves an institution\'s system (SMART Backend Services, system/ scopes) what search gives it, for the cohorts its organisation is responsible for', async () => {
    const township = cohort[0]!.enrollments.find((e) => e.programId === PROGRAM)!.organizationId;
    const system = await stack.token({ sub: 'his-bulk', role: 'system', org: township, scope: 'system/*.rs', client_id: 'his-bulk' });
    const groups = await (await fhir(system, '/fhir/Group')).json() as { entry: { resource: Resource }[] };
    expect(groups.entry.map((e) => e.resource.id)).toContain(PROGRAM);
    const { resources } = await runExport(system, '/fhir/$export?_type=Patient,EpisodeOfCare,Encounter,Condition,Observation,Immunization,Task');
    const responsible = new Set(bundles.filter((b) => b.enrollments.some((e) => e.organizationId === township && e.status === 'active')).map((b) => b.patient.id));
    const records = resources.filter((r) => r.resourceType !== 'Organization' && r.resourceType !== 'Practitioner');
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) expect(responsible.has(patientOf(r)!), key(r)).toBe(true);
    const expected: Resource[] = [];
    for (const id of responsible) expected.push(...await searchAll(system, id, ['Patient', 'EpisodeOfCare', 'Encounter', 'Condition', 'Observation', 'Immunization', 'Task']));
    expect(records.map(key).sort()).toEqual(expected.map(key).sort());
    // A system client without a read scope cannot export.
    const writer = await stack.token({ sub: 'his-writer', role: 'system', org: township, scope: 'system/Observation.cu', client_id: 'his-writer' });
    expect((await kickOff(writer, '/fhir/$export')).status).toBe(403);
  });

  it('recovers a job a stopped gateway left running: run again from the start, never listing its half-written files', async () => {
    const bulk = stack.gateway.bulkExport!;
    await bulk.worker.stop();
    try {
      const kicked = await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_type=Patient`);
      expect(kicked.status).toBe(202);
      const url = kicked.headers.get('content-location')!;
      const id = url.split('/').pop()!;
      const queued = await fhir(cdc, url);
      expect(queued.status).toBe(202);
      expect(queued.headers.get('x-progress')).toBe('queued');
      // What a gateway killed mid-export leaves: the job running with an old beat, a finished part and a half-written one.
      await bulk.store.db.query("UPDATE bulk_export_job SET status = 'running', attempts = 1, patients_done = 3, heartbeat_at = now() - interval '1 hour' WHERE id = $1", [id]);
      await mkdir(path.join(storageDir, id), { recursive: true });
      await writeFile(path.join(storageDir, id, 'Patient-1.ndjson'), '{"resourceType":"Patient","id":"left-over"}\n');
      await writeFile(path.join(storageDir, id, 'Patient-2.ndjson.partial'), '{"resourceType":"Pat');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const meanwhile = await fhir(cdc, url);
      expect(meanwhile.status).toBe(202);
      expect(meanwhile.headers.get('x-progress')).toMatch(/^3 patients exported/);
      // The gateway starts again.
      bulk.worker.start();
      const { manifest } = await waitFor(cdc, url);
      const resources = await download(cdc, manifest);
      expect(resources.map((r) => r.id).sort()).toEqual(cohort.map((b) => b.patient.id).sort());
      expect((await readdir(path.join(storageDir, id))).filter((f) => f.endsWith('.partial'))).toEqual([]);
      const [row] = await bulk.store.db.query<{ attempts: number }>('SELECT attempts FROM bulk_export_job WHERE id = $1', [id]);
      expect(Number(row!.attempts)).toBe(2);

      // Interrupted too often: failed cleanly (an OperationOutcome), its files deleted.
      await bulk.worker.stop();
      const again = await kickOff(cdc, `/fhir/Group/${PROGRAM}/$export?_type=Patient`);
      const failedUrl = again.headers.get('content-location')!;
      const failedId = failedUrl.split('/').pop()!;
      await bulk.store.db.query("UPDATE bulk_export_job SET status = 'running', attempts = $2, heartbeat_at = now() - interval '1 hour' WHERE id = $1", [failedId, bulk.settings.maxAttempts]);
      await mkdir(path.join(storageDir, failedId), { recursive: true });
      await writeFile(path.join(storageDir, failedId, 'Patient-1.ndjson.partial'), '{');
      bulk.worker.start();
      let failed: Response | null = null;
      for (let i = 0; i < 300; i++) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        failed = await fhir(cdc, failedUrl);
        if (failed.status !== 202 && failed.status !== 429) break;
      }
      expect(failed!.status).toBe(500);
      expect(await failed!.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ diagnostics: expect.stringMatching(/interrupted/) }] });
      await expect(readdir(path.join(storageDir, failedId))).rejects.toThrow();
    } finally {
      bulk.worker.start();
    }
  });
});
