/**
 * Consent checks every record type's end-to-end test makes the same way
 * (docs/adding-a-record-type.md, step 8): written once here, each test file
 * giving its own list query, publisher and patient. Besides, the checks of a
 * record's encounter link the tests of linked records share (a link under the
 * encounters category, another patient's encounter refused).
 */
import { expect } from 'vitest';
import type { GraphQLResponse, TestStack } from './harness.js';
import { SYSTEM } from '../../lib/records/terminology.js';
import { fhirSender, newFullUrl, postEntry, transactionBundle, type FhirBundle } from './publish.js';

type Json = Record<string, unknown>;

export interface LabelledRecordsCase {
  stack: TestStack;
  /** The patient's list of the record type, a query taking `$id`. */
  query: string;
  patientId: string;
  /** The patient's unlabelled records of the type (their ids) before the case publishes its own. */
  unlabelled: string[];
  /** The consent category as GraphQL names it (`ALLERGIES`). */
  category: string;
  /** A sensitivity label other than V. */
  label: string;
  /** The organisation that records them; two others, neither registered with the patient. */
  producer: string;
  strangers: readonly [string, string];
  emergencyReason: string;
  /** Publishes one record of the type for the patient, as `org`, with these labels; its id. */
  publish: (org: string, options: { labels: string[] }) => Promise<string>;
  clinician: (org: string, claims?: Json) => Promise<string>;
  /** Records a permit of the patient; its id. */
  grant: (input: Json) => Promise<string>;
  revoke: (id: string) => Promise<unknown>;
  /** The ids a list response holds, sorted. */
  ids: (response: GraphQLResponse<any>) => string[];
}

/**
 * A record labelled `label` stays closed to a permit that does not name the
 * label and opens to one that does; one labelled V stays closed even to
 * break-glass, which opens the others and is flagged; the producer sees both.
 */
export async function expectLabelsAndBreakGlass(c: LabelledRecordsCase): Promise<void> {
  const labelled = await c.publish(c.producer, { labels: [c.label] });
  const restricted = await c.publish(c.producer, { labels: ['V'] });
  const [stranger, emergencyOrg] = c.strangers;
  const list = async (token: string) => c.ids(await c.stack.graphql(token, c.query, { id: c.patientId }));
  const token = await c.clinician(stranger);
  const plain = await c.grant({ actorId: stranger, categories: [c.category] });
  const seen = await list(token);
  expect(seen).toEqual([...c.unlabelled].sort());
  const naming = await c.grant({ actorId: stranger, categories: [c.category], labels: [c.label] });
  expect(await list(token)).toEqual([...seen, labelled].sort());
  await c.revoke(plain);
  await c.revoke(naming);

  const emergency = await c.clinician(emergencyOrg, { purpose_of_use: 'ETREAT', break_glass_reason: c.emergencyReason });
  const response = await c.stack.graphql(emergency, c.query, { id: c.patientId });
  expect(c.ids(response)).toEqual([...c.unlabelled, labelled].sort());
  expect(c.ids(response)).not.toContain(restricted);
  expect(response.extensions?.emergencyAccess).toMatchObject({ breakGlass: true, patients: [c.patientId] });
  // The recording organisation sees its own, labels or not.
  expect(await list(await c.clinician(c.producer))).toEqual(expect.arrayContaining([labelled, restricted]));
}

/**
 * The calls every record type's end-to-end test makes through the gateway
 * (docs/adding-a-record-type.md, step 8), written once: tokens for a
 * clinician and a hospital system of an organisation, FHIR reads, the
 * patient's `$everything`, and the patient's own permits. The stack and the
 * patient are only known once the test's `beforeAll` has run, so they are
 * given as functions.
 */
export function recordTypeCalls(stack: () => TestStack, patient: { id: () => string; token: () => string }) {
  const base = () => stack().url.replace(/\/graphql$/, '');
  const get = async (token: string, path: string) => {
    const response = await fetch(`${base()}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    return { status: response.status, body: (await response.json()) as Json & any };
  };
  const send = fhirSender(base);
  /** `org`'s hospital information system (a registered backend client). */
  const system = (org: string, scope = 'system/*.cru') => stack().token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope });
  return {
    send,
    /** A clinician of `org` with `user/*.rs`, claims overridable. */
    clinician: (org: string, extra: Json = {}) => stack().token({ sub: `dr-${org}`, role: 'clinician', org, scope: 'user/*.rs', ...extra }),
    system,
    /** Publishes one resource to /fhir/<its type> as `org`'s system (must answer 201); the id it was given. */
    create: async (org: string, resource: Json): Promise<string> => {
      const created = await send(`/fhir/${resource.resourceType}`, await system(org), resource);
      expect(created.status, created.text).toBe(201);
      return String(created.headers.get('location')).split('/')[1]!;
    },
    /** A FHIR read: its status and parsed body. */
    get,
    /** The patient's `$everything` as `token` sees it (must answer 200). */
    everything: async (token: string, id: string): Promise<FhirBundle> => {
      const answer = await get(token, `/fhir/Patient/${id}/$everything`);
      expect(answer.status).toBe(200);
      return answer.body as FhirBundle;
    },
    /** Records a permit of the patient (an organisation, unless the input says otherwise); its id. */
    grant: async (input: Json): Promise<string> => {
      const response = await stack().graphql(patient.token(), GRANT, { input: { patientId: patient.id(), decision: 'PERMIT', actorType: 'ORGANIZATION', ...input } });
      expect(response.errors).toBeUndefined();
      return (response.data as any).grantConsent.id as string;
    },
    /** Revokes one of the patient's directives. */
    revoke: async (id: string) => expect((await stack().graphql(patient.token(), REVOKE, { id })).errors).toBeUndefined(),
  };
}

/** The resources of one type in a Bundle (a `$everything` or a searchset). */
export const resourcesOfType = (bundle: FhirBundle, type: string) => bundle.entry.filter((e) => e.resource.resourceType === type).map((e) => e.resource);

/**
 * An ambulatory visit of `subject` at `org`, as EHR exports send it (`extra`: elements an export adds, such as
 * Synthea's type), an hour long from `start`.
 */
export const encounterResource = (subject: string, start: string, org: string, extra: Json = {}) => ({
  resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB', display: 'ambulatory' },
  subject: { reference: subject }, ...extra, period: { start, end: start.replace('T09:', 'T10:') }, serviceProvider: { reference: `Organization/${org}` },
});

/** Each list's node ids → their encounter (null where withheld or none), from a patient query whose lists' nodes ask `id encounter { id }`. */
export const encountersOf = (data: any, lists: readonly string[]): Record<string, Record<string, string | null>> => Object.fromEntries(lists.map((list) => [list,
  Object.fromEntries((data?.patient?.[list]?.edges ?? []).map((e: any) => [e.node.id, e.node.encounter?.id ?? null]))]));

/**
 * A record naming another patient's encounter is refused whole, by element (422, the record's `encounter`): published by
 * `org` in one transaction with that patient and their encounter.
 */
export async function expectAnotherPatientsEncounterRefused(c: {
  calls: ReturnType<typeof recordTypeCalls>;
  org: string;
  patientId: string;
  /** The record of the type under test, for `subject` and naming `encounter`. */
  record: (subject: string, encounter: string) => Json;
}): Promise<void> {
  const otherPatient = newFullUrl();
  const otherEncounter = newFullUrl();
  const foreign = await c.calls.send('/fhir', await c.calls.system(c.org), transactionBundle(
    postEntry(otherPatient, { resourceType: 'Patient', identifier: [{ system: SYSTEM.mrnPrefix + c.org, value: `MRN-OTHER-${crypto.randomUUID().slice(0, 8)}` }], name: [{ family: 'Other', given: ['Zodwa'] }], gender: 'female', birthDate: '1970-01-01' }),
    postEntry(otherEncounter, encounterResource(otherPatient, '2026-02-04T09:00:00+02:00', c.org)),
    postEntry(newFullUrl(), c.record(`Patient/${c.patientId}`, otherEncounter)),
  ));
  expect(foreign.status, foreign.text).toBe(422);
  expect(foreign.body.resourceType).toBe('OperationOutcome');
  expect(foreign.body.issue.map((i: Json & any) => i.expression?.[0]).join(' ')).toContain('Bundle.entry[2].resource.encounter');
}

export interface EncounterLinksCase {
  stack: TestStack;
  calls: ReturnType<typeof recordTypeCalls>;
  /** The patient's lists of the record types under test (taking `$id`), each node asking `id encounter { id }`. */
  query: string;
  lists: readonly string[];
  patientId: string;
  encounterId: string;
  /** An organisation not registered with the patient, seeing only what the patient permits. */
  stranger: string;
  /** The categories of the records (GraphQL names), which do not include their encounter's. */
  recordCategories: string[];
  /** The categories that open the links too (ENCOUNTERS, and any other a record's links name). */
  linkCategories: string[];
  /** The records naming the encounter (Type/id), and how many each list holds of them. */
  linked: string[];
  counts: number[];
  /** Further checks of the same answers while the links are withheld, and once they are open. */
  whileWithheld?: (response: GraphQLResponse<any>, exported: FhirBundle) => void;
  onceOpened?: (response: GraphQLResponse<any>, exported: FhirBundle) => void;
}

/**
 * A record's encounter discloses nothing new: an organisation permitted the
 * records but not encounters gets them without it (GraphQL: null, with
 * CONSENT_DENIED at each list's first node; `$everything`: no Encounter and no
 * reference to one); with the encounters category permitted too, it gets
 * every link, both ways. The permits are revoked at the end.
 */
export async function expectEncounterLinksUnderConsent(c: EncounterLinksCase): Promise<void> {
  const stranger = await c.calls.clinician(c.stranger);
  const records = await c.calls.grant({ actorId: c.stranger, categories: c.recordCategories });
  const withheld = await c.stack.graphql(stranger, c.query, { id: c.patientId });
  const partial = encountersOf(withheld.data, c.lists);
  expect(c.lists.map((list) => Object.keys(partial[list]!).length)).toEqual(c.counts);
  expect(c.lists.flatMap((list) => Object.values(partial[list]!))).toEqual(Array(c.linked.length).fill(null));
  for (const list of c.lists) {
    expect(withheld.errors?.find((e) => e.path?.join('.') === `patient.${list}.edges.0.node.encounter`)?.extensions?.code, list).toBe('CONSENT_DENIED');
  }
  const exported = await c.calls.everything(stranger, c.patientId);
  const byLocation = new Map(exported.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource as Json & any]));
  for (const location of c.linked) {
    expect(byLocation.has(location), location).toBe(true);
    expect(byLocation.get(location)!.encounter, location).toBeUndefined();
  }
  expect(exported.entry.filter((e) => e.resource.resourceType === 'Encounter')).toEqual([]);
  c.whileWithheld?.(withheld, exported);

  const links = await c.calls.grant({ actorId: c.stranger, categories: c.linkCategories });
  const opened = await c.stack.graphql(stranger, c.query, { id: c.patientId });
  expect(c.lists.flatMap((list) => Object.values(encountersOf(opened.data, c.lists)[list]!))).toEqual(Array(c.linked.length).fill(c.encounterId));
  const exportedAgain = await c.calls.everything(stranger, c.patientId);
  const again = new Map(exportedAgain.entry.map((e) => [`${e.resource.resourceType}/${e.resource.id}`, e.resource as Json & any]));
  for (const location of c.linked) expect(again.get(location)?.encounter, location).toEqual({ reference: `Encounter/${c.encounterId}` });
  c.onceOpened?.(opened, exportedAgain);
  await c.calls.revoke(links);
  await c.calls.revoke(records);
}

const GRANT = 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }';
const REVOKE = 'mutation($id: ID!) { revokeConsent(id: $id) { id } }';

/**
 * A record type on the timeline: among all kinds, and alone under its own `kind` (every node of its GraphQL
 * `typename`), each record at its time with its text (`text` reads it from a node); a stranger's timeline shows none.
 * `query` takes `$id` and `$kinds` and asks `edges { kind occurredAt node { __typename id ... } }`.
 */
export async function expectOnTimeline(options: {
  stack: TestStack; query: string; patientId: string; patientToken: string; strangerToken: string; kind: string; typename: string;
  records: { id: string; at: Date; text: string }[]; text: (node: any) => string;
}): Promise<void> {
  const { stack, query, patientId, kind } = options;
  const all = await stack.graphql(options.patientToken, query, { id: patientId, kinds: null });
  expect(all.errors).toBeUndefined();
  expect((all.data as any).patient.timeline.edges.filter((e: Json) => e.kind === kind).length).toBeGreaterThanOrEqual(options.records.length);
  const only = await stack.graphql(options.patientToken, query, { id: patientId, kinds: [kind] });
  const edges = (only.data as any).patient.timeline.edges as any[];
  expect(edges.every((e) => e.kind === kind && e.node.__typename === options.typename)).toBe(true);
  for (const record of options.records) {
    const edge = edges.find((e) => e.node.id === record.id);
    expect(edge, record.id).toBeDefined();
    expect(edge.occurredAt).toBe(record.at.toISOString());
    expect(options.text(edge.node)).toBe(record.text);
  }
  const stranger = await stack.graphql(options.strangerToken, query, { id: patientId, kinds: [kind] });
  expect((stranger.data as any)?.patient?.timeline?.edges ?? []).toEqual([]);
}
