/**
 * `Patient.timeline`, served by identity because it owns Patient: it asks
 * each owner for the keys of the entries the actor may see (lib/records/timeline.ts),
 * merges them newest first into one page, and returns references the gateway
 * resolves from the owners. Identity stores none of those records.
 *
 * Patients asking with the same arguments in one request share one call per
 * owner. What the page reveals (that an entry of a kind exists at a time) is
 * reported as disclosed, with the category and break-glass flag the owner
 * gave, so the audit trail holds it even if the caller never asks for nodes.
 */
import { authorisedByPatient } from '../../../lib/consent/policy.js';
import { INTERNAL_APIS } from '../../../lib/runtime/internal-api.js';
import { encodeCursor } from '../../../lib/records/connection.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../../../lib/runtime/services.js';
import type { SubgraphContext } from '../../../lib/runtime/subgraph-context.js';
import {
  newestFirst, TIMELINE_KIND_TYPES, timelineRequest,
  type PatientTimeline, type TimelineAnswer, type TimelineEntryKey, type TimelineKind, type TimelineRequest,
} from '../../../lib/records/timeline.js';

/** The types a timeline node can be (stubs in identity's schema, owned elsewhere). */
export const TIMELINE_NODE_TYPES = Object.values(TIMELINE_KIND_TYPES).map((type) => type.typename);

export interface TimelineArgs {
  first?: number | null;
  after?: string | null;
  kinds?: TimelineKind[] | null;
  from?: Date | null;
  to?: Date | null;
}

/** The connection as identity resolves it; `withheldCount` is fetched only when selected. */
export interface TimelinePage {
  edges: { cursor: string; kind: TimelineKind; occurredAt: string; node: { __typename: string; id: string; patientId: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  withheld: () => Promise<number | null>;
}

/** Asks every owner of the requested kinds, in parallel, for the patients' entries. */
async function askOwners(context: SubgraphContext, request: TimelineRequest): Promise<Map<string, PatientTimeline[]>> {
  const owners = SUBGRAPH_NAMES.filter((name) => request.kinds.some((kind) => TIMELINE_KIND_TYPES[kind].owner === name));
  const answers = await Promise.all(owners.map((owner: SubgraphName) =>
    context.internal.call<TimelineAnswer>(INTERNAL_APIS.timeline, request, owner)));
  const byPatient = new Map<string, PatientTimeline[]>();
  for (const answer of answers) {
    for (const patient of answer.patients) byPatient.set(patient.patientId, [...(byPatient.get(patient.patientId) ?? []), patient]);
  }
  return byPatient;
}

export function patientTimeline(context: SubgraphContext, patientId: string, args: TimelineArgs): Promise<TimelinePage> {
  const base = timelineRequest(args);
  const key = JSON.stringify(base);
  const pages = context.loader<string, PatientTimeline[]>(`timeline:${key}`, async (patientIds) => {
    const answers = await askOwners(context, { ...base, patientIds: [...patientIds] });
    return patientIds.map((id) => answers.get(id) ?? []);
  });
  // The withheld count reads whole windows, so it is a separate call, made only when the field is selected.
  // Only for staff the patient authorised (an active permit for them, their organisation or the alliance):
  // a registration alone tells nothing about records elsewhere, not even how many (docs/consent.md).
  const withheld = context.loader<string, number | null>(`timelineWithheld:${key}`, async (patientIds) => {
    const authorised = await Promise.all(patientIds.map(async (id) => authorisedByPatient(context.actor, await context.consent.facts(id), context.consent.now)));
    const asked = patientIds.filter((_, i) => authorised[i]);
    const answers = asked.length ? await askOwners(context, { ...base, patientIds: asked, countWithheld: true }) : new Map<string, PatientTimeline[]>();
    return patientIds.map((id, i) => {
      if (!authorised[i]) return null;
      const counts = (answers.get(id) ?? []).map((answer) => answer.withheld);
      return counts.some((n) => n === null) ? null : counts.reduce<number>((sum, n) => sum + (n ?? 0), 0);
    });
  });
  return pages.load(patientId).then((answers) => {
    const merged: TimelineEntryKey[] = answers.flatMap((answer) => answer.entries).sort(newestFirst);
    const page = merged.slice(0, base.first);
    for (const entry of page) context.consent.disclose(patientId, entry.category, entry.id, entry.breakGlass);
    const edges = page.map((entry) => ({
      cursor: encodeCursor(entry.time, entry.id),
      kind: entry.kind,
      occurredAt: entry.time,
      // With its patient's id: the key a partitioned owner resolves by (Observation: `id patientId`), ignored by the others.
      node: { __typename: TIMELINE_KIND_TYPES[entry.kind].typename, id: entry.id, patientId },
    }));
    return {
      edges,
      pageInfo: { hasNextPage: merged.length > base.first, endCursor: edges.at(-1)?.cursor ?? null },
      withheld: () => withheld.load(patientId),
    };
  });
}
