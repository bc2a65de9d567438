/**
 * Bundles read as a stream (issue 27; gateway/src/fhir/ingest/bundle-stream.ts,
 * bundle-reader.ts), through the gateway over HTTP on every backend: a Bundle
 * of about 10 MB sent chunked (no Content-Length) is accepted whole; past
 * FHIR_MAX_BUNDLE_BYTES a chunked upload of a real Bundle is answered 413 with
 * an OperationOutcome while it is still being sent; JSON that goes wrong deep
 * in a large Bundle, a body that ends before its JSON does, a client that
 * goes away mid-upload, too many entries and a wrong content type are each
 * refused — an OperationOutcome (or, with no one left to answer, nothing), no
 * 500, and not a row written or staged by any owner. Entries that reference
 * entries later in the body still resolve.
 *
 * The cap is 12 MiB here (the default is 50 MiB), so the refusals need not
 * send 50 MB.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { SYSTEM } from '../lib/records/terminology.js';
import { BACKENDS, startTestStack, type TestStack } from './support/harness.js';
import { fhirSender, rowCounts, uploadBundle as upload } from './support/publish.js';

type Json = Record<string, any>;
const LIMIT = 12 * 1024 * 1024;
process.env.FHIR_MAX_BUNDLE_BYTES = String(LIMIT);
const ORG = 'org-county-south';
const PATIENT_URL = 'urn:uuid:5e1d0000-0000-4000-8000-000000000001';

/** An Observation entry of the patient: a laboratory result with a long comment (about 1.9 kB). */
function result(n: number, patient = PATIENT_URL): Json {
  const comment = 'Sample received haemolysed; result confirmed on repeat. '.repeat(24);
  return {
    fullUrl: `urn:uuid:5e1d0000-0000-4000-8000-${String(n + 2).padStart(12, '0')}`, request: { method: 'POST', url: 'Observation' },
    resource: {
      resourceType: 'Observation', status: 'final', category: [{ coding: [{ system: SYSTEM.observationCategory, code: 'laboratory' }] }],
      code: { coding: [{ system: SYSTEM.loinc, code: '2345-7', display: 'Glucose [Mass/volume] in Serum or Plasma' }] }, subject: { reference: patient },
      effectiveDateTime: new Date(Date.UTC(2020, 0, 1) + n * 3_600_000).toISOString(), valueString: `${(4 + (n % 30) / 10).toFixed(1)} mmol/L. ${comment}`,
    },
  };
}

function patient(card: string): Json {
  return {
    fullUrl: PATIENT_URL, request: { method: 'POST', url: 'Patient' }, resource: {
      resourceType: 'Patient', identifier: [{ system: SYSTEM.healthCard, value: card }, { system: SYSTEM.mrnPrefix + ORG, value: `ST-${card}` }],
      name: [{ use: 'official', family: 'Huang', given: ['Mei'] }], gender: 'female', birthDate: '1961-07-09',
    },
  };
}

/** A transaction of one patient and `count` laboratory results. */
const labHistory = (count: number, card: string): Json => ({
  resourceType: 'Bundle', type: 'transaction', entry: [patient(card), ...Array.from({ length: count }, (_, n) => result(n))],
});

describe.each(BACKENDS)('Bundles read as a stream on %s', (backend) => {
  let stack: TestStack;
  let base = '';
  const send = fhirSender(() => base);
  const system = () => stack.token({ sub: `${ORG}-his`, role: 'system', org: ORG, client_id: `${ORG}-his`, scope: 'system/*.cru' });
  /** Every owner's records and its staged entries (nothing of a refused Bundle may be either). */
  const written = async () => {
    const staged: Record<string, number> = {};
    for (const name of SUBGRAPH_NAMES) {
      const [row] = await stack.databases[name].query<{ n: number }>('SELECT count(*)::int AS n FROM ingest_staged');
      staged[name] = row!.n;
    }
    return { rows: await rowCounts(stack.databases), staged };
  };
  /** The gateway still takes a small transaction (the connection handling left it sound). */
  const stillPublishes = async (card: string) => {
    const answer = await send('/fhir', await system(), labHistory(1, card));
    expect(answer.status, answer.text.slice(0, 300)).toBe(200);
  };

  beforeAll(async () => {
    stack = await startTestStack(backend, { patients: 1 });
    base = stack.url.replace(/\/graphql$/, '');
  });
  afterAll(async () => stack?.close());

  it('accepts a Bundle of about 10 MB sent chunked, without Content-Length, whole', async () => {
    const body = JSON.stringify(labHistory(5200, `HC-STREAM-${backend}`));
    expect(body.length).toBeGreaterThan(9_500_000);
    expect(body.length).toBeLessThan(LIMIT);
    const before = await written();
    const answer = await upload(base, await system(), body);
    expect(answer.status, answer.body.slice(0, 500)).toBe(200);
    const bundle = JSON.parse(answer.body);
    expect(bundle.type).toBe('transaction-response');
    expect(bundle.entry).toHaveLength(5201);
    expect(new Set(bundle.entry.map((e: Json) => e.response.status))).toEqual(new Set(['201 Created']));
    const after = await written();
    expect(after.rows['labs.observation']! - before.rows['labs.observation']!).toBe(5200);
    expect(after.rows['identity.patient']! - before.rows['identity.patient']!).toBe(1);
  });

  it('answers a chunked upload of a real Bundle past the cap with 413 and an OperationOutcome while it is sent, writing nothing', async () => {
    // A patient and 30,000 results (about 57 MB), made as they are sent.
    const count = 30_000;
    const bundle = (function* () {
      yield `{"resourceType":"Bundle","type":"transaction","entry":[${JSON.stringify(patient(`HC-STREAM-BIG-${backend}`))}`;
      for (let n = 0; n < count; n++) yield `,${JSON.stringify(result(n))}`;
      yield ']}';
    })();
    const before = await written();
    const answer = await upload(base, await system(), bundle);
    expect(answer.status, `${answer.error} after ${answer.sent} bytes`).toBe(413);
    const outcome = JSON.parse(answer.body);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].code).toBe('too-costly');
    expect(outcome.issue[0].diagnostics).toContain(String(LIMIT));
    // Answered while the client still had most of the Bundle to send: the gateway did not read on to the end first.
    expect(answer.sentWhenAnswered).toBeLessThan(count * 1_900 / 2);
    expect(await written()).toEqual(before);
    await stillPublishes(`HC-STREAM-AFTER413-${backend}`);
  });

  it('refuses JSON that goes wrong deep in a large Bundle with 400, writing nothing', async () => {
    const body = JSON.stringify(labHistory(3000, `HC-STREAM-BAD-${backend}`));
    // The last result's status loses its quotes: 5.7 MB of good JSON, then a mistake.
    const at = body.lastIndexOf('"status":"final"');
    const broken = `${body.slice(0, at)}"status":final${body.slice(at + '"status":"final"'.length)}`;
    expect(at).toBeGreaterThan(5_000_000);
    const before = await written();
    for (const declare of [Buffer.byteLength(broken), undefined]) {
      const answer = await upload(base, await system(), broken, { declare });
      expect(answer.status, answer.body.slice(0, 300)).toBe(400);
      const outcome = JSON.parse(answer.body);
      expect(outcome.resourceType).toBe('OperationOutcome');
      expect(outcome.issue[0].code).toBe('structure');
      expect(outcome.issue[0].diagnostics).toMatch(/not JSON/);
    }
    expect(await written()).toEqual(before);
  });

  it('refuses a body that ends before its JSON does with 400, and writes nothing when the client goes away mid-upload', async () => {
    const body = JSON.stringify(labHistory(2000, `HC-STREAM-CUT-${backend}`));
    const before = await written();
    // The upload ends properly (the last chunk sent) but the JSON stops in the middle of an entry.
    const short = await upload(base, await system(), body.slice(0, 2_000_000));
    expect(short.status, short.body.slice(0, 300)).toBe(400);
    const outcome = JSON.parse(short.body);
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0].diagnostics).toMatch(/ends before its JSON does/);
    // The client declares the whole body, sends half and closes the connection: no one to answer, nothing written.
    for (const declare of [Buffer.byteLength(body), undefined]) {
      const cut = await upload(base, await system(), body, { declare, cutAfter: 2_000_000 });
      expect(cut.error).toBe('cut');
    }
    expect(await written()).toEqual(before);
    await stillPublishes(`HC-STREAM-AFTERCUT-${backend}`);
  });

  it('refuses more entries than FHIR_MAX_BUNDLE_ENTRIES with 400 before the body ends, and a wrong content type with 415', async () => {
    const before = await written();
    const entries = Array.from({ length: 20_050 }, () => '{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation"}}');
    const body = `{"resourceType":"Bundle","type":"transaction","entry":[${entries.join(',')}]}`;
    const answer = await upload(base, await system(), body);
    expect(answer.status, answer.body.slice(0, 300)).toBe(400);
    const outcome = JSON.parse(answer.body);
    expect(outcome.issue[0].code).toBe('too-costly');
    expect(outcome.issue[0].diagnostics).toContain('20000');
    const wrongType = await send('/fhir', await system(), JSON.stringify(labHistory(1000, `HC-STREAM-TYPE-${backend}`)), { contentType: 'text/plain' });
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.resourceType).toBe('OperationOutcome');
    expect(await written()).toEqual(before);
    await stillPublishes(`HC-STREAM-AFTER415-${backend}`);
  });

  it('resolves references to entries later in the body: results before their patient, a report before its results', async () => {
    const results = [result(0), result(1)];
    const report = {
      fullUrl: 'urn:uuid:5e1d0000-0000-4000-8000-0000000000ff', request: { method: 'POST', url: 'DiagnosticReport' },
      resource: {
        resourceType: 'DiagnosticReport', status: 'final', category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }],
        code: { coding: [{ system: SYSTEM.loinc, code: '58410-2', display: 'CBC panel - Blood by Automated count' }] },
        subject: { reference: PATIENT_URL }, effectiveDateTime: '2020-01-01T00:00:00Z', result: results.map((r) => ({ reference: r.fullUrl })),
      },
    };
    const bundle = { resourceType: 'Bundle', type: 'transaction', entry: [report, ...results, patient(`HC-STREAM-ORDER-${backend}`)] };
    const answer = await send('/fhir', await system(), bundle);
    expect(answer.status, answer.text.slice(0, 500)).toBe(200);
    const [reportId, ...resultIds] = answer.body.entry.slice(0, 3).map((e: Json) => e.response.location.split('/')[1]);
    const linked = await stack.databases.labs.query<{ id: string; report_id: string }>('SELECT id, report_id FROM observation WHERE id = ANY($1::uuid[])', [resultIds]);
    expect(linked).toHaveLength(2);
    for (const row of linked) expect(row.report_id).toBe(reportId);
  });
});
