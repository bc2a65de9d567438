/**
 * The benchmark's "consent off" policy: what `npm run bench` (mode `off`)
 * runs the subgraphs with to measure what consent and audit cost. It lives
 * here, with the benchmark, and reaches the services through the runtime's
 * injection point for tests and benchmarks (lib/runtime/subgraph.ts,
 * ConsentInjection), which a production service refuses: nothing of it is
 * in the consent code or its SQL. scripts/bench-service.ts is the entry that
 * starts a service with it.
 *
 * What "off" means: the schema is served without the field rules, every
 * record is allowed, and lists are filtered by a filter that opens every
 * organisation of the registry and every label, through the same SQL as
 * production's (so a page costs the same statement, without the consent
 * facts). Nothing is disclosed by field rules, so the gateway audits nothing.
 */
import { ConsentAccess, type ConsentSources } from '../lib/consent/access.js';
import type { PatientRecordFilter } from '../lib/consent/filter.js';
import type { Decision } from '../lib/consent/policy.js';
import type { InternalCaller } from '../lib/runtime/internal-api.js';
import { buildBaseSchema, type ConsentAccessInputs, type ConsentInjection } from '../lib/runtime/subgraph.js';
import { SENSITIVITY_LABELS } from '../lib/records/terminology.js';

/** The registry's organisations, asked once per process (the benchmark's registry does not change while it runs). */
let organizations: Promise<string[]> | undefined;
function registryOrganizations(sources: ConsentSources, internal: InternalCaller): Promise<string[]> {
  organizations ??= sources.identityFacts([], internal).then((facts) => facts.organizationIds, (error: unknown) => {
    organizations = undefined;
    throw error;
  });
  return organizations;
}

/** Allows every record to everyone: only the benchmark's "consent off" services use it. */
class AllowEverything extends ConsentAccess {
  constructor(private readonly inputs: ConsentAccessInputs) {
    super(inputs.call.actor, inputs.internal, inputs.sources);
  }

  override async mayReachPatient(): Promise<boolean> {
    return true;
  }

  override async decide(): Promise<Decision> {
    return { allow: true, breakGlass: false, rule: 'benchmark-consent-off' };
  }

  override async filters(_category: unknown, patientIds: readonly string[]): Promise<PatientRecordFilter[]> {
    const orgs = await registryOrganizations(this.inputs.sources, this.inputs.internal);
    const pairs = orgs.flatMap((org) => SENSITIVITY_LABELS.map((label) => `${org}|${label}`));
    return patientIds.map((id) => ({ id, orgs, pairs, bg_orgs: [] }));
  }
}

export const CONSENT_OFF: ConsentInjection = { access: (inputs) => new AllowEverything(inputs), schema: buildBaseSchema };
