/**
 * Consent checks every record type's end-to-end test makes the same way
 * (docs/adding-a-record-type.md, step 8): written once here, each test file
 * giving its own list query, publisher and patient.
 */
import { expect } from 'vitest';
import type { GraphQLResponse, TestStack } from './harness.js';
import { fhirSender, type FhirBundle } from './publish.js';

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
  return {
    send: fhirSender(base),
    /** A clinician of `org` with `user/*.rs`, claims overridable. */
    clinician: (org: string, extra: Json = {}) => stack().token({ sub: `dr-${org}`, role: 'clinician', org, scope: 'user/*.rs', ...extra }),
    /** `org`'s hospital information system (a registered backend client). */
    system: (org: string, scope = 'system/*.cru') => stack().token({ sub: `${org}-his`, role: 'system', org, client_id: `${org}-his`, scope }),
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

const GRANT = 'mutation($input: ConsentProvisionInput!) { grantConsent(input: $input) { id } }';
const REVOKE = 'mutation($id: ID!) { revokeConsent(id: $id) { id } }';
