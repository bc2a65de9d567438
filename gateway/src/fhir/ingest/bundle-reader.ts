/**
 * A transaction or batch Bundle taken in entry by entry as bundle-stream.ts
 * reads it (route.ts), keeping only what the rest of the request needs:
 *
 * - each entry's request checked as it arrives (method, url, a duplicate
 *   fullUrl, the entry limit: past FHIR_MAX_BUNDLE_ENTRIES the answer goes at
 *   once, the rest of the body unread);
 * - what references between entries need: every fullUrl with its entry's
 *   index and resource type (a few dozen bytes an entry), and the resource
 *   itself only for the types kept with the records that reference them (a
 *   Medication: its record is read by theirs, resources/medication.ts);
 * - a transaction's entries mapped (map.ts, mapEach) in batches of
 *   MAP_BATCH as they arrive: from then on only the owner's record of each is
 *   kept, not the parsed resource. An entry that references a fullUrl not read
 *   yet (`urn:uuid:…` or an absolute URL: the entry it names comes later in
 *   the body) waits whole until the body ends, then is mapped with every
 *   fullUrl known, so references resolve whatever the entries' order.
 *   A Bundle written in the usual order (an entry after the entries it
 *   references, as FHIR serializers and Synthea write them) keeps none
 *   waiting.
 *
 * The transaction itself is unchanged: nothing is sent to an owner before the
 * whole body is read and every entry mapped without an issue, then one
 * all-or-nothing run of the coordinator (coordinator.ts) with the mapped
 * entries in request order. A `batch` keeps its entries (each is its own
 * transaction, run once the body is complete, so a body that breaks off
 * writes nothing); so does a Bundle whose `type` comes after its entries
 * (what the entries are for is not known before).
 */
import type { Actor } from '../../../../lib/trust/actor.js';
import { HELD_BY_RECORDS } from '../resources/medication.js';
import { checkHeld, linkResults, mapEach, type BundleContext, type EntryRequest, type Issue, type MapItem, type MappedEntry, type UnlinkedEntry } from './map.js';
import type { BundlePart } from './bundle-stream.js';

/** Entries mapped at a time: small enough that their parsed resources are a few MB at most, large enough to cost nothing. */
export const MAP_BATCH = 200;

interface BundleEntryIn {
  fullUrl?: unknown;
  resource?: unknown;
  request?: { method?: unknown; url?: unknown; ifNoneExist?: unknown };
}

/** A reference that names an entry by its fullUrl form (urn:uuid:…, urn:oid:…, an absolute URL), as opposed to Type/id or #contained. */
const ABSOLUTE = /^(?:urn:|[A-Za-z][A-Za-z0-9+.-]*:\/\/)/;

/**
 * Whether `value` references a fullUrl-form reference not known yet (the entry it names may come later); the
 * relative references not known yet (Type/id: an existing record, unless a later entry has that fullUrl) go to `relative`.
 */
function awaitsLaterEntry(value: unknown, fullUrls: BundleContext['fullUrls'], relative: string[], depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > 64) return false;
  if (Array.isArray(value)) return value.some((item) => awaitsLaterEntry(item, fullUrls, relative, depth + 1));
  for (const [key, inner] of Object.entries(value)) {
    if (key === 'reference' && typeof inner === 'string') {
      if (fullUrls.has(inner) || inner.startsWith('#')) continue;
      if (ABSOLUTE.test(inner)) return true;
      relative.push(inner);
    } else if (awaitsLaterEntry(inner, fullUrls, relative, depth + 1)) return true;
  }
  return false;
}

/** A refusal of the whole Bundle, as an issue (its status is the answer's). */
const refusal = (status: number, code: Issue['code'], message: string, expression: string): Issue => ({ index: -1, status, code, message, expression });

export class BundleReader {
  /** Issues of the entries' requests (method, url, fullUrl): a transaction with any is refused with these alone, unmapped. */
  readonly requestIssues: Issue[] = [];
  /** Issues of mapping the entries (a transaction: any refuses it whole). */
  readonly mapIssues: Issue[] = [];
  readonly context: BundleContext;
  private resourceType: unknown;
  private type: unknown;
  private mode: 'transaction' | 'batch' | null = null;
  private count = 0;
  /** Entries that arrived before the Bundle's resourceType and type. */
  private early: { index: number; entry: unknown }[] = [];
  /** A batch's entries, each run on its own once the body is complete. */
  private items: MapItem[] = [];
  /** A transaction's entries read and not mapped yet: the next batch, and those awaiting a later entry. */
  private batch: MapItem[] = [];
  private waiting: MapItem[] = [];
  private unlinked: UnlinkedEntry[] = [];
  private held: MapItem[] = [];
  /** Type/id references read before every fullUrl was known (checked at the end: a later entry must not have one as its fullUrl). */
  private relative = new Set<string>();

  constructor(caller: Actor, private readonly maxEntries: number, private readonly batchSize = MAP_BATCH) {
    this.context = { actor: caller, organizationId: caller.org!, fullUrls: new Map(), independent: false };
  }

  /** Takes the next part of the body; a refusal to answer at once (the rest of the body is then not read). */
  take(part: BundlePart): Issue | undefined {
    if (part.kind === 'field') {
      if (part.name === 'resourceType') {
        this.resourceType = part.value;
        if (part.value !== 'Bundle') return refusal(400, 'structure', 'POST /fhir takes a Bundle', 'Bundle.resourceType');
      } else {
        this.type = part.value;
        if (part.value !== 'transaction' && part.value !== 'batch') return refusal(400, 'value', 'Bundle.type must be transaction or batch', 'Bundle.type');
      }
      if (this.resourceType === 'Bundle' && this.mode === null && (this.type === 'transaction' || this.type === 'batch')) this.start(this.type);
      return undefined;
    }
    this.count = part.index + 1;
    if (this.count > this.maxEntries) return refusal(400, 'too-costly' as Issue['code'], `At most ${this.maxEntries} entries per Bundle`, 'Bundle.entry');
    if (this.mode === null) this.early.push(part);
    else this.entry(part.index, part.entry);
    return undefined;
  }

  /** The body ended: the Bundle, or the refusal of it as a whole. */
  finish(): { type: 'transaction' | 'batch'; context: BundleContext; count: number; items: MapItem[] } | Issue {
    if (this.resourceType !== 'Bundle') return refusal(400, 'structure', 'POST /fhir takes a Bundle', 'Bundle.resourceType');
    if (this.type !== 'transaction' && this.type !== 'batch') return refusal(400, 'value', 'Bundle.type must be transaction or batch', 'Bundle.type');
    if (this.mode === null) this.start(this.type);
    if (!this.count) return refusal(400, 'required', 'The Bundle has no entries', 'Bundle.entry');
    this.flush();
    for (const reference of this.relative) {
      const target = this.context.fullUrls.get(reference);
      if (target) {
        this.requestIssues.push({ index: target.index, status: 400, code: 'invalid', expression: `Bundle.entry[${target.index}].fullUrl`,
          message: `An entry before this one references ${reference}, read as an existing record before this entry came: put this entry before the entries that reference it, or give it a urn:uuid: fullUrl` });
      }
    }
    this.relative.clear();
    return { type: this.mode!, context: this.context, count: this.count, items: this.items };
  }

  /** A transaction's mapped entries, in request order, with reports linked to their results (after finish, without request issues). */
  mapped(): MappedEntry[] {
    const { mapped, held } = mapEach(this.waiting, this.context, this.mapIssues);
    this.waiting = [];
    this.unlinked.push(...mapped);
    this.held.push(...held);
    checkHeld(this.held, this.context, this.mapIssues);
    this.unlinked.sort((a, b) => a.index - b.index);
    return linkResults(this.unlinked, this.mapIssues);
  }

  private start(type: 'transaction' | 'batch') {
    this.mode = type;
    this.context.independent = type === 'batch';
    const early = this.early;
    this.early = [];
    for (const { index, entry } of early) this.entry(index, entry);
  }

  /** One entry: its request checked (as before streaming: route.ts), its fullUrl noted, then kept or mapped. */
  private entry(index: number, raw: unknown) {
    const entry = raw as BundleEntryIn | null;
    const issues = this.requestIssues;
    const base = `Bundle.entry[${index}]`;
    const resource = entry?.resource as { resourceType?: unknown; id?: unknown } | undefined;
    const method = entry?.request?.method;
    const url = typeof entry?.request?.url === 'string' ? entry.request.url : '';
    let entryRequest: EntryRequest = { method: 'POST', expression: `${base}.request.url`, ifNoneExist: null };
    if (method === 'POST') {
      if (url.replace(/^\//, '') !== resource?.resourceType) issues.push({ index, status: 400, code: 'invalid', message: 'A POST entry\'s request.url is the resource type', expression: `${base}.request.url` });
      entryRequest = { method: 'POST', expression: `${base}.request.url`, ifNoneExist: typeof entry?.request?.ifNoneExist === 'string' ? entry.request.ifNoneExist : null };
    } else if (method === 'PUT') {
      const match = /^\/?([A-Za-z]+)\/([^/?]+)$/.exec(url);
      if (!match || match[1] !== resource?.resourceType) issues.push({ index, status: 400, code: 'invalid', message: 'A PUT entry\'s request.url is Type/id', expression: `${base}.request.url` });
      entryRequest = { method: 'PUT', id: match?.[2], expression: `${base}.request.url` };
    } else {
      issues.push({ index, status: 400, code: 'not-supported', message: 'Entries are POST (create) or PUT (update)', expression: `${base}.request.method` });
    }
    if (typeof entry?.fullUrl === 'string' && resource && typeof resource.resourceType === 'string') {
      if (this.context.fullUrls.has(entry.fullUrl)) issues.push({ index, status: 400, code: 'invalid', message: 'Two entries have the same fullUrl', expression: `${base}.fullUrl` });
      // The resource itself only where another entry's record reads it (a Medication); the rest is index and type.
      this.context.fullUrls.set(entry.fullUrl, { index, resourceType: resource.resourceType, ...(HELD_BY_RECORDS.includes(resource.resourceType) ? { resource } : {}) });
    }
    const item: MapItem = { index, base: `${base}.resource`, resource, request: entryRequest };
    if (this.mode === 'batch') {
      this.items.push(item);
      return;
    }
    // A transaction refused for its requests is answered with those alone: nothing more to map.
    if (issues.length) return;
    const relative: string[] = [];
    if (awaitsLaterEntry(resource, this.context.fullUrls, relative)) {
      this.waiting.push(item);
      return;
    }
    for (const reference of relative) this.relative.add(reference);
    this.batch.push(item);
    if (this.batch.length >= this.batchSize) this.flush();
  }

  /** Maps the batch read so far; its parsed resources are not kept. */
  private flush() {
    const batch = this.batch;
    this.batch = [];
    if (this.requestIssues.length || !batch.length) return;
    const { mapped, held } = mapEach(batch, this.context, this.mapIssues);
    this.unlinked.push(...mapped);
    this.held.push(...held);
  }
}
