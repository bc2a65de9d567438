/**
 * Last updated (docs/last-updated.md), through the gateway over HTTP, on
 * embedded PGlite and (with TEST_DATABASE_URL) PostgreSQL: a record's time
 * moves when it is corrected and not when it is republished unchanged; FHIR
 * resources carry it as meta.lastUpdated; `_lastUpdated` searches it; a
 * Bulk Data export's `_since` returns the records changed after it (a
 * correction of an old record included, an untouched record left out),
 * whatever their clinical time; GraphQL's `updatedSince` narrows the
 * connections. And a database of the previous schema upgrades with a value
 * for every existing row.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../lib/records/terminology.js';
import { migrate, openDatabase, type Database } from '../lib/runtime/db.js';
import { migrateSubgraph, migrationsDirectory, PUBLISHING_MIGRATIONS } from '../lib/runtime/subgraph.js';
import { schemaErrors } from './support/fhir-schema.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender } from './support/publish.js';

type Json = Record<string, any>;
const ORG = 'org-thc-baisha';
const UCUM = 'http://unitsofmeasure.org';
/** A FHIR instant (meta.lastUpdated): seconds and a time zone are required. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A vital sign taken years ago, as the clinic's system sends it (an old record published today). */
const vital = (tag: string, name: string, patient: string, code: string, display: string, value: number, unit: string, effective: string) => ({
  resourceType: 'Observation', identifier: [{ system: `https://${ORG}.example.org/obs`, value: `${tag}-${name}` }], status: 'final',
  category: [{ coding: [{ system: SYSTEM.observationCategory, code: 'vital-signs', display: 'Vital Signs' }] }],
  code: { coding: [{ system: SYSTEM.loinc, code, display }] }, subject: { reference: patient }, effectiveDateTime: effective,
  valueQuantity: { value, unit, system: UCUM, code: unit },
});

async function scratchDatabase(backend: string, made: string[]): Promise<string> {
  if (backend === 'pglite') return 'memory://';
  const name = `fpr_lastupd_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  made.push(name);
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

async function dropDatabases(made: string[]): Promise<void> {
  if (!made.length) return;
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  for (const name of made) await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

describe.each(BACKENDS)('last updated (%s)', (backend) => {
  let stack: TestStack;
  let base: string;
  let storageDir: string;
  const made: string[] = [];
  const send = fhirSender(() => base);
  let system: string;
  let patientId: string;
  let ids: { heart: string; weight: string };
  let sent: { heart: Json; weight: Json };
  /** meta.lastUpdated of both records as published; of the heart rate after its correction. */
  let published: { heart: string; weight: string };
  let corrected: string;

  const get = async (token: string, url: string) => {
    const response = await fetch(url.startsWith('http') ? url : `${base}${url}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    return { status: response.status, body: (await response.json()) as Json };
  };
  const lastUpdatedOf = async (id: string): Promise<string> => {
    const read = await get(system, `/Observation/${id}`);
    expect(read.status, JSON.stringify(read.body)).toBe(200);
    return read.body.meta?.lastUpdated;
  };
  const searchIds = async (query: string): Promise<string[]> => {
    const answer = await get(system, `/Observation?patient=${patientId}&${query}`);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    return (answer.body.entry ?? []).filter((e: Json) => e.search.mode === 'match').map((e: Json) => e.resource.id).sort();
  };

  /** A patient-level export of the test's patient (POST, its `patient` parameter), to the downloaded resources. */
  async function exportOf(parameters: Json[]): Promise<Json[]> {
    const kicked = await fetch(`${base}/Patient/$export`, {
      method: 'POST',
      headers: { authorization: `Bearer ${system}`, prefer: 'respond-async', accept: 'application/fhir+json', 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: `Patient/${patientId}` } }, ...parameters] }),
    });
    expect(kicked.status, await kicked.clone().text()).toBe(202);
    const statusUrl = kicked.headers.get('content-location')!;
    for (let i = 0; i < 600; i++) {
      const response = await fetch(statusUrl, { headers: { authorization: `Bearer ${system}` } });
      if (response.status === 200) {
        const manifest = await response.json() as { output: { url: string }[] };
        const resources: Json[] = [];
        for (const file of manifest.output) {
          const text = await (await fetch(file.url, { headers: { authorization: `Bearer ${system}` } })).text();
          resources.push(...text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Json));
        }
        return resources;
      }
      expect([202, 429], await response.clone().text()).toContain(response.status);
      await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get('retry-after') ?? 1)));
    }
    throw new Error('export did not finish');
  }

  beforeAll(async () => {
    storageDir = await mkdtemp(path.join(os.tmpdir(), 'last-updated-'));
    stack = await startTestStack(backend, {
      patients: 2,
      bulkExport: { databaseUrl: await scratchDatabase(backend, made), storageDir, maxResourcesPerFile: 50, minPollSeconds: 0.2, maxActivePerCaller: 2, expirySeconds: 3600, tickMs: 100 },
    });
    base = stack.url.replace(/\/graphql$/, '/fhir');
    system = await stack.token({ sub: `${ORG}-his`, role: 'system', org: ORG, client_id: `${ORG}-his`, scope: 'system/*.cru' });
    const tag = randomUUID();
    const patientUrl = `urn:uuid:${randomUUID()}`;
    sent = {
      heart: vital(tag, 'heart', patientUrl, '8867-4', 'Heart rate', 78, '/min', '2016-03-01T09:00:00+08:00'),
      weight: vital(tag, 'weight', patientUrl, '29463-7', 'Body weight', 71.5, 'kg', '2015-06-01T09:00:00+08:00'),
    };
    const answer = await send('', system, {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: patientUrl, request: { method: 'POST', url: 'Patient' }, resource: {
          resourceType: 'Patient', name: [{ family: 'Gao', given: ['Min'] }], gender: 'female', birthDate: '1968-02-03',
          identifier: [{ system: SYSTEM.healthCard, value: `HC-${tag}` }, { system: SYSTEM.mrnPrefix + ORG, value: `MR-${tag}` }],
        } },
        { fullUrl: `urn:uuid:${randomUUID()}`, request: { method: 'POST', url: 'Observation' }, resource: sent.heart },
        { fullUrl: `urn:uuid:${randomUUID()}`, request: { method: 'POST', url: 'Observation' }, resource: sent.weight },
      ],
    });
    expect(answer.status, answer.text).toBe(200);
    const locations = answer.body.entry.map((e: Json) => String(e.response.location).split('/')[1]!);
    patientId = locations[0];
    ids = { heart: locations[1], weight: locations[2] };
    sent = { heart: { ...sent.heart, subject: { reference: `Patient/${patientId}` } }, weight: { ...sent.weight, subject: { reference: `Patient/${patientId}` } } };
    published = { heart: await lastUpdatedOf(ids.heart), weight: await lastUpdatedOf(ids.weight) };
    // The correction comes later than the publication (the database's clock, to the millisecond shown).
    await new Promise((resolve) => setTimeout(resolve, 25));
    const put = await send(`/Observation/${ids.heart}`, system, { ...sent.heart, id: ids.heart, valueQuantity: { ...sent.heart.valueQuantity, value: 82 } }, { method: 'PUT' });
    expect(put.status, put.text).toBe(200);
    corrected = await lastUpdatedOf(ids.heart);
  }, 300_000);

  afterAll(async () => {
    await stack?.close();
    if (storageDir) await rm(storageDir, { recursive: true, force: true });
    await dropDatabases(made);
  });

  it('stamps every record on publication and moves the time on a correction, not on a republish that changes nothing', async () => {
    for (const value of [published.heart, published.weight, corrected]) {
      expect(value).toMatch(INSTANT);
    }
    // Published together: one time, far from the records' clinical times (2015, 2016).
    expect(published.heart).toBe(published.weight);
    expect(Date.parse(published.heart)).toBeGreaterThan(Date.parse('2020-01-01T00:00:00Z'));
    expect(Date.parse(corrected)).toBeGreaterThan(Date.parse(published.heart));
    expect(await lastUpdatedOf(ids.weight)).toBe(published.weight);

    // The same correction again (PUT of what is stored), and the weight sent again as a conditional create: nothing changes.
    const again = await send(`/Observation/${ids.heart}`, system, { ...sent.heart, id: ids.heart, valueQuantity: { ...sent.heart.valueQuantity, value: 82 } }, { method: 'PUT' });
    expect(again.status, again.text).toBe(200);
    const identifier = sent.weight.identifier[0];
    const replay = await send('/Observation', system, sent.weight, { headers: { 'if-none-exist': `identifier=${identifier.system}|${identifier.value}` } });
    expect(replay.status, replay.text).toBe(200);
    expect(await lastUpdatedOf(ids.heart)).toBe(corrected);
    expect(await lastUpdatedOf(ids.weight)).toBe(published.weight);
  });

  it('gives GraphQL lastUpdated and narrows the connections with updatedSince', async () => {
    const query = 'query($id: ID!, $since: DateTime) { patient(id: $id) { lastUpdated clinicalObservations(updatedSince: $since) { edges { node { id lastUpdated } } } } }';
    const all = await stack.graphql(system, query, { id: patientId, since: null });
    expect(all.errors).toBeUndefined();
    const nodes = all.data.patient.clinicalObservations.edges.map((e: Json) => e.node);
    expect(Object.fromEntries(nodes.map((n: Json) => [n.id, n.lastUpdated]))).toEqual({ [ids.heart]: corrected, [ids.weight]: published.weight });
    expect(all.data.patient.lastUpdated).toMatch(INSTANT);
    const since = await stack.graphql(system, query, { id: patientId, since: published.heart });
    expect(since.data.patient.clinicalObservations.edges.map((e: Json) => e.node.id)).toEqual([ids.heart]);
    const none = await stack.graphql(system, query, { id: patientId, since: corrected });
    expect(none.data.patient.clinicalObservations.edges).toEqual([]);
    const bad = await stack.graphql(system, query, { id: patientId, since: 'last tuesday' });
    expect(bad.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('searches _lastUpdated with gt, ge, lt and le, and refuses a malformed one', async () => {
    const both = [ids.heart, ids.weight].sort();
    expect(await searchIds(`_lastUpdated=gt${encodeURIComponent(published.heart)}`)).toEqual([ids.heart]);
    expect(await searchIds(`_lastUpdated=ge${encodeURIComponent(published.heart)}`)).toEqual(both);
    expect(await searchIds(`_lastUpdated=le${encodeURIComponent(published.heart)}`)).toEqual([ids.weight]);
    expect(await searchIds(`_lastUpdated=lt${encodeURIComponent(corrected)}`)).toEqual([ids.weight]);
    expect(await searchIds(`_lastUpdated=ge${encodeURIComponent(corrected)}`)).toEqual([ids.heart]);
    expect(await searchIds(`_lastUpdated=gt${encodeURIComponent(corrected)}`)).toEqual([]);
    expect(await searchIds(`_lastUpdated=gt2000-01-01&_lastUpdated=lt${encodeURIComponent(corrected)}`)).toEqual([ids.weight]);
    const bad = await get(system, `/Observation?patient=${patientId}&_lastUpdated=gtyesterday`);
    expect(bad.status).toBe(400);
    expect(bad.body.resourceType).toBe('OperationOutcome');
    const metadata = (await get(system, '/metadata')).body;
    const observation = metadata.rest[0].resource.find((r: Json) => r.type === 'Observation');
    expect(observation.searchParam.map((p: Json) => p.name)).toContain('_lastUpdated');
  });

  it('exports with _since as last updated: the correction of an old record, not the untouched one; meta.lastUpdated valid everywhere', async () => {
    const changed = await exportOf([{ name: '_type', valueString: 'Observation' }, { name: '_since', valueInstant: published.heart }]);
    expect(changed.map((r) => r.id)).toEqual([ids.heart]);
    expect(changed[0]!.valueQuantity.value).toBe(82);
    expect(changed[0]!.meta.lastUpdated).toBe(corrected);

    const before = new Date(Date.parse(published.heart) - 1000).toISOString();
    const everything = await exportOf([{ name: '_type', valueString: 'Patient,Observation' }, { name: '_since', valueInstant: before }]);
    expect(everything.map((r) => `${r.resourceType}/${r.id}`).sort()).toEqual([`Observation/${ids.heart}`, `Observation/${ids.weight}`, `Patient/${patientId}`].sort());
    // The patient's record did not change after the publication: an export since then leaves it out.
    expect((await exportOf([{ name: '_type', valueString: 'Patient' }, { name: '_since', valueInstant: corrected }]))).toEqual([]);

    const full = await exportOf([]);
    expect(full.length).toBeGreaterThan(2);
    for (const resource of full) {
      expect(resource.meta?.lastUpdated, `${resource.resourceType}/${resource.id}`).toMatch(INSTANT);
      expect(await schemaErrors(resource), `${resource.resourceType}/${resource.id}`).toEqual([]);
    }
  });
});

describe.each(BACKENDS)('last updated: upgrading a database of the previous schema (%s)', (backend) => {
  const made: string[] = [];
  afterAll(async () => {
    await dropDatabases(made);
  });

  /**
   * A database migrated as the release before last-updated times was: the publishing protocol's migrations and the
   * subgraph's own, without the record tables' (lib/records/migrations) or anything derived from the catalogue.
   */
  async function previous(name: 'identity' | 'labs'): Promise<Database> {
    const db = await openDatabase(await scratchDatabase(backend, made));
    await migrate(db, PUBLISHING_MIGRATIONS, 'publishing/');
    await migrate(db, migrationsDirectory(name));
    return db;
  }

  it('gives existing rows their creation time where kept, else the migration\'s time; then keeps it by the trigger', async () => {
    const identity = await previous('identity');
    const labs = await previous('labs');
    try {
      const patient = randomUUID();
      await identity.query(`INSERT INTO patient (id, family, given, gender, created_at) VALUES ($1, 'Old', '{Row}', 'female', '2019-05-06T07:08:09Z')`, [patient]);
      const observation = randomUUID();
      await labs.query(`INSERT INTO observation (id, patient_id, organization_id, code, display, value_quantity, unit, effective, status)
        VALUES ($1, $2, 'org-x', '2345-7', 'Glucose', 5.1, 'mmol/L', '2018-01-01T00:00:00Z', 'final')`, [observation, patient]);
      const before = Date.now();
      expect(await migrateSubgraph(identity, 'identity')).toEqual(expect.arrayContaining(['records/001_last_updated.sql', 'UPDATE patient SET last_updated = created_at']));
      expect(await migrateSubgraph(labs, 'labs')).toContain('records/001_last_updated.sql');
      const [p] = await identity.query<{ last_updated: Date }>('SELECT last_updated FROM patient WHERE id = $1', [patient]);
      expect(p!.last_updated.toISOString()).toBe('2019-05-06T07:08:09.000Z');
      const [o] = await labs.query<{ last_updated: Date }>('SELECT last_updated FROM observation WHERE id = $1', [observation]);
      // The migration's time: no earlier than just before it ran (the database's clock is this machine's).
      expect(o!.last_updated.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(o!.last_updated.getTime()).toBeLessThanOrEqual(Date.now() + 1000);

      // An update that changes nothing keeps the time; one that changes the row moves it; so does a new identifier of the patient.
      await labs.query('UPDATE observation SET value_quantity = value_quantity WHERE id = $1', [observation]);
      expect((await labs.query<{ last_updated: Date }>('SELECT last_updated FROM observation WHERE id = $1', [observation]))[0]!.last_updated).toEqual(o!.last_updated);
      await labs.query('UPDATE observation SET value_quantity = 5.4 WHERE id = $1', [observation]);
      expect((await labs.query<{ last_updated: Date }>('SELECT last_updated FROM observation WHERE id = $1', [observation]))[0]!.last_updated.getTime()).toBeGreaterThan(o!.last_updated.getTime());
      await identity.query(`INSERT INTO patient_identifier (patient_id, system, value, type) VALUES ($1, 'urn:x', $2, 'MR')`, [patient, randomUUID()]);
      expect((await identity.query<{ last_updated: Date }>('SELECT last_updated FROM patient WHERE id = $1', [patient]))[0]!.last_updated.getTime()).toBeGreaterThan(Date.parse('2019-05-07T00:00:00Z'));
    } finally {
      await Promise.all([identity.close(), labs.close()]);
    }
  });
});
