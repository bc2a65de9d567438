/**
 * Consent checks every record type's end-to-end test makes the same way
 * (docs/adding-a-record-type.md, step 8): written once here, each test file
 * giving its own list query, publisher and patient.
 */
import { expect } from 'vitest';
import type { GraphQLResponse, TestStack } from './harness.js';

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
