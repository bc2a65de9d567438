/**
 * Per-request access to the consent policy inside a subgraph: patient facts
 * (registrations and directives from identity, programme enrolments from
 * public-health) loaded once per request and batched over patients, the
 * decision for a record, the SQL filter for a list, and the record of what
 * was disclosed (reported to the gateway for the audit trail).
 *
 * Facts come through the owners' internal APIs, authorised by the token the
 * request came with; identity and public-health answer their own part from
 * their own database.
 */
import DataLoader from 'dataloader';
import type { Actor } from '../trust/actor.js';
import type { Database } from '../runtime/db.js';
import { INTERNAL_APIS, type InternalCaller } from '../runtime/internal-api.js';
import type { Category } from './categories.js';
import { recordFilter, type PatientRecordFilter } from './filter.js';
import { decide, mayReachPatient, reachWithoutFacts, type ConsentDirective, type Decision, type PatientFacts, type RecordFacts } from './policy.js';

export interface IdentityFacts {
  /**
   * Every organisation of identity's registry, deactivated ones included (their
   * records stay visible): the producers the record filter evaluates. Input
   * naming an organisation is checked through lib/records/registry.ts instead.
   */
  organizationIds: string[];
  patients: { patientId: string; registeredOrganizationIds: string[]; directives: ConsentDirective[] }[];
}

/** Where a subgraph gets the facts it does not own. */
export interface ConsentSources {
  identityFacts(patientIds: string[], internal: InternalCaller): Promise<IdentityFacts>;
  programmeOrganizations(patientIds: string[], internal: InternalCaller): Promise<Record<string, string[]>>;
}

export interface Disclosure {
  patientId: string;
  category: Category;
  /** The records' ids: a record two subgraphs both report (a timeline entry and its node) counts once. */
  ids: string[];
  breakGlass: boolean;
}

/** Consent sources reached over the owners' internal APIs (the default for every subgraph). */
export function remoteConsentSources(): ConsentSources {
  return {
    identityFacts: (patientIds, internal) => internal.call(INTERNAL_APIS.consentFacts, { patientIds }),
    programmeOrganizations: (patientIds, internal) => internal.call(INTERNAL_APIS.programmeOrganizations, { patientIds }),
  };
}

/**
 * Facts fetched for one gateway request, shared by the calls that request
 * makes to this subgraph (a timeline page asks each owner for its entries and
 * then for its nodes). Keyed by the request id the gateway signed, kept a few
 * seconds: a revocation still applies from the next request on.
 */
export class RequestFactsCache {
  private readonly requests = new Map<string, { expires: number; organizationIds: string[]; facts: Map<string, PatientFacts> }>();

  constructor(private readonly ttlMs = 10_000, private readonly maxRequests = 2_000) {}

  get(requestId: string) {
    const entry = this.requests.get(requestId);
    if (entry && entry.expires < Date.now()) {
      this.requests.delete(requestId);
      return undefined;
    }
    return entry;
  }

  put(requestId: string, organizationIds: string[], facts: PatientFacts[]): void {
    let entry = this.get(requestId);
    if (!entry) {
      if (this.requests.size >= this.maxRequests) this.evict();
      entry = { expires: Date.now() + this.ttlMs, organizationIds, facts: new Map() };
      this.requests.set(requestId, entry);
    }
    for (const f of facts) entry.facts.set(f.patientId, f);
  }

  private evict(): void {
    const now = Date.now();
    for (const [id, entry] of this.requests) if (entry.expires < now) this.requests.delete(id);
    // Still full: drop the oldest (Map keeps insertion order).
    while (this.requests.size >= this.maxRequests) this.requests.delete(this.requests.keys().next().value!);
  }
}

export class ConsentAccess {
  /** One instant per request, so every decision in a response agrees. */
  readonly now = new Date();
  private organizationIds: Promise<string[]> | undefined;
  private readonly factsLoader: DataLoader<string, PatientFacts>;
  private readonly disclosed = new Map<string, { patientId: string; category: Category; ids: Set<string>; breakGlass: boolean }>();

  constructor(
    readonly actor: Actor,
    private readonly internal: InternalCaller,
    private readonly sources: ConsentSources,
    private readonly shared?: {
      cache: RequestFactsCache;
      requestId: string;
      /** Counts each decision by category and outcome (lib/runtime/telemetry.ts). */
      decisions?: { inc(labels: { category: string; outcome: string }): void };
    },
  ) {
    this.factsLoader = new DataLoader(async (patientIds) => this.loadFacts([...patientIds]), { maxBatchSize: 1000 });
  }

  private async loadFacts(patientIds: string[]): Promise<PatientFacts[]> {
    const cached = this.shared?.cache.get(this.shared.requestId);
    const missing = cached ? patientIds.filter((id) => !cached.facts.has(id)) : patientIds;
    if (cached) this.organizationIds ??= Promise.resolve(cached.organizationIds);
    const fetched = missing.length ? await this.fetchFacts(missing) : [];
    const byId = new Map([...(cached?.facts ?? new Map<string, PatientFacts>()), ...fetched.map((f) => [f.patientId, f] as const)]);
    return patientIds.map((id) => byId.get(id)!);
  }

  private async fetchFacts(patientIds: string[]): Promise<PatientFacts[]> {
    const needsProgrammes = this.actor.role === 'public_health';
    const relayed = this.relayed;
    const unknown = relayed ? patientIds.filter((id) => !relayed.patients.has(id)) : patientIds;
    const [fetched, programmes] = await Promise.all([
      unknown.length ? this.sources.identityFacts(unknown, this.internal) : Promise.resolve(null),
      needsProgrammes ? this.sources.programmeOrganizations(patientIds, this.internal) : Promise.resolve({} as Record<string, string[]>),
    ]);
    const identity: IdentityFacts = {
      organizationIds: fetched?.organizationIds ?? relayed!.organizationIds,
      patients: [...(fetched?.patients ?? []), ...patientIds.filter((id) => relayed?.patients.has(id)).map((id) => relayed!.patients.get(id)!)],
    };
    this.organizationIds ??= Promise.resolve(identity.organizationIds);
    for (const patient of identity.patients) this.identityLoaded.set(patient.patientId, patient);
    this.identityOrganizations ??= identity.organizationIds;
    const facts = patientFacts(identity, patientIds, programmes);
    if (this.shared) this.shared.cache.put(this.shared.requestId, identity.organizationIds, facts);
    return facts;
  }

  /** Identity's facts relayed with this request (signed by identity: see relayFacts), used before asking identity. */
  private relayed: { organizationIds: string[]; patients: Map<string, IdentityFacts['patients'][number]> } | undefined;
  /** Identity's facts this request loaded, to relay to the next services of the same request. */
  private readonly identityLoaded = new Map<string, IdentityFacts['patients'][number]>();
  private identityOrganizations: string[] | undefined;

  /** Uses identity's facts relayed with this request (verified by the caller) instead of asking identity again. */
  useRelayedFacts(facts: IdentityFacts): void {
    this.relayed ??= { organizationIds: facts.organizationIds, patients: new Map() };
    for (const patient of facts.patients) this.relayed.patients.set(patient.patientId, patient);
  }

  /** Identity's facts this request loaded (none when it loaded none). */
  loadedIdentityFacts(): IdentityFacts | null {
    if (!this.identityOrganizations || this.identityLoaded.size === 0) return null;
    return { organizationIds: this.identityOrganizations, patients: [...this.identityLoaded.values()] };
  }

  facts(patientId: string): Promise<PatientFacts> {
    return this.factsLoader.load(patientId);
  }

  /** Whether the actor may reach the patient at all (see mayReachPatient). */
  async mayReachPatient(patientId: string): Promise<boolean> {
    // Patients and bound tokens need no facts (no statement, no call to identity).
    const known = reachWithoutFacts(this.actor, patientId);
    if (known !== undefined) return known;
    return mayReachPatient(this.actor, await this.facts(patientId), this.now);
  }

  /** Decisions depend only on these facts of a record, so each is taken once per request. */
  private readonly decisions = new Map<string, Decision>();

  async decide(record: RecordFacts): Promise<Decision> {
    const key = `${record.patientId}|${record.category}|${record.resourceType ?? ''}|${record.organizationId}|${record.sensitivityLabels.join(',')}`;
    const known = this.decisions.get(key);
    if (known) return known;
    const decision = decide(this.actor, record, await this.facts(record.patientId), this.now);
    this.decisions.set(key, decision);
    this.shared?.decisions?.inc({ category: record.category, outcome: decision.allow ? (decision.breakGlass ? 'break_glass' : 'allow') : decision.code.toLowerCase() });
    return decision;
  }

  /** The SQL filter rows for a list of `category` (records of `resourceType`, where given) over these patients. */
  async filters(category: Category, patientIds: readonly string[], resourceType?: string): Promise<PatientRecordFilter[]> {
    const facts = await this.factsLoader.loadMany([...patientIds]);
    const organizationIds = await (this.organizationIds ?? Promise.resolve([]));
    return facts.map((f, i) => (f instanceof Error ? { id: patientIds[i]!, orgs: [], pairs: [], bg_orgs: [] } : recordFilter(this.actor, category, f, organizationIds, this.now, resourceType)));
  }

  /** Notes that a record of `category` was returned. */
  disclose(patientId: string, category: Category, recordId: string, breakGlass: boolean): void {
    const key = `${patientId}|${category}`;
    let entry = this.disclosed.get(key);
    if (!entry) {
      entry = { patientId, category, ids: new Set(), breakGlass: false };
      this.disclosed.set(key, entry);
    }
    entry.ids.add(recordId);
    entry.breakGlass ||= breakGlass;
  }

  disclosures(): Disclosure[] {
    return [...this.disclosed.values()].map((d) => ({ patientId: d.patientId, category: d.category, ids: [...d.ids], breakGlass: d.breakGlass }));
  }
}

/** The policy's facts of each patient, from identity's part and (for public_health actors) the programme organisations. */
export function patientFacts(identity: IdentityFacts, patientIds: string[], programmes: Record<string, string[]> = {}): PatientFacts[] {
  const byPatient = new Map(identity.patients.map((p) => [p.patientId, p]));
  return patientIds.map((patientId) => ({
    patientId,
    registeredOrganizationIds: byPatient.get(patientId)?.registeredOrganizationIds ?? [],
    directives: byPatient.get(patientId)?.directives ?? [],
    programmeOrganizationIds: programmes[patientId] ?? [],
  }));
}

/** Identity's own part of the facts, read from its database (used by identity itself and its internal API). */
export async function identityFactsFromDatabase(db: Database, patientIds: string[]): Promise<IdentityFacts> {
  const ids = patientIds.filter((id) => /^[0-9a-f-]{36}$/i.test(id));
  const [organizations, registrations, directives] = await Promise.all([
    db.query<{ id: string }>('SELECT id FROM organization ORDER BY id'),
    db.query<{ patient_id: string; orgs: string[] }>(
      `SELECT patient_id, array_agg(assigner_organization_id) AS orgs FROM patient_identifier
       WHERE patient_id = ANY($1::uuid[]) AND type = 'MR' GROUP BY patient_id`, [ids]),
    // Only directives in force count: a staff-recorded one waits for the patient's confirmation (pending) or was declined.
    db.query<Record<string, any>>(`SELECT * FROM consent_directive WHERE patient_id = ANY($1::uuid[]) AND status = 'active' ORDER BY created_at`, [ids]),
  ]);
  const iso = (value: unknown) => (value ? new Date(value as string).toISOString() : null);
  return {
    organizationIds: organizations.map((o) => o.id),
    patients: ids.map((patientId) => ({
      patientId,
      registeredOrganizationIds: registrations.find((r) => r.patient_id === patientId)?.orgs ?? [],
      directives: directives.filter((d) => d.patient_id === patientId).map((d) => ({
        id: d.id, patientId, decision: d.decision, actorType: d.actor_type, actorId: d.actor_id, categories: d.categories, labels: d.labels,
        purposes: d.purposes, periodStart: iso(d.period_start), periodEnd: iso(d.period_end), revokedAt: iso(d.revoked_at),
      })),
    })),
  };
}
