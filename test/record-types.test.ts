/**
 * The catalogue of record types (lib/records/record-types.ts) is the one place a
 * record type is described: every subgraph's SDL, consent rules and tables
 * agree with it, and the tables that used to be kept by hand are what it
 * derives.
 */
import { readFileSync } from 'node:fs';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { buildSchema, parse, validate, type DocumentNode, type GraphQLObjectType } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../lib/runtime/db.js';
import { RESOURCE_OWNERS } from '../lib/ingest/types.js';
import { OTHER_RECORD_TYPES, RECORD_TYPES, recordTypeOf, type ListedRecordType, type RecordTypeFacts } from '../lib/records/record-types.js';
import { ALL_RECORD_TYPES, lastUpdatedColumnOf } from '../lib/records/record-types.js';
import { RESOURCE_CATEGORIES } from '../lib/trust/scopes.js';
import { SUBGRAPH_NAMES, type SubgraphName } from '../lib/runtime/services.js';
import { openSubgraphDatabase, subgraphSdl } from '../lib/runtime/subgraph.js';
import { TIMELINE_KIND_TYPES, TIMELINE_KINDS } from '../lib/records/timeline.js';
import { CONNECTION_RESOURCES, exportPlan } from '../gateway/src/fhir/plan.js';
import { buildBatchOperation, buildOperation } from '../gateway/src/fhir/queries.js';
import { QUERY_LIMITS } from '../gateway/src/server.js';
import { API_SCHEMA_FILE } from '../gateway/src/supergraph.js';
import { EXPORTED_RECORD_TYPES, PUBLISHED_TYPES, recordTypeOfExport, RESOURCE_MODULES } from '../gateway/src/fhir/resources/index.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';
import { catalogueProblems, type SubgraphUnderCheck } from './support/catalogue.js';

const subgraphs: SubgraphUnderCheck[] = SUBGRAPH_NAMES.map((name) => ({ name, sdl: subgraphSdl(name), consentRules: SUBGRAPH_MODULES[name].module.consentRules }));
const catalogue = { listed: RECORD_TYPES, others: OTHER_RECORD_TYPES };

describe('the catalogue of record types', () => {
  it('names every SDL record type and consent rule, and nothing the SDL lacks', () => {
    expect(catalogueProblems(catalogue, subgraphs)).toEqual([]);
  });

  it('fails when a record type, a consent rule or a kind is missing from it, or it names what the SDL lacks (the check can fail)', () => {
    const labs = subgraphs.find((s) => s.name === 'labs')!;
    const withSpecimen = { ...labs, sdl: `${labs.sdl}\n"A specimen."\ntype Specimen @key(fields: "id") {\n  "Id."\n  id: ID!\n  "The patient."\n  patient: Patient\n}\n` };
    expect(catalogueProblems(catalogue, subgraphs.map((s) => (s === labs ? withSpecimen : s)))).toContain('labs: Specimen has a patient but is not in the catalogue');

    const extraRule = { ...labs, consentRules: { ...labs.consentRules, records: { ...labs.consentRules.records, Specimen: { category: 'labs' as const } } } };
    expect(catalogueProblems(catalogue, subgraphs.map((s) => (s === labs ? extraRule : s)))).toContain('labs: the consent rule of Specimen names no record type of the catalogue');

    const withoutImmunization = { ...catalogue, listed: RECORD_TYPES.filter((row) => row.graphqlType !== 'Immunization') };
    const problems = catalogueProblems(withoutImmunization, subgraphs);
    expect(problems).toContain('public-health: Immunization has a patient but is not in the catalogue');
    expect(problems.join('\n')).toMatch(/identity: TimelineKind is .*IMMUNIZATION/);

    const ghost: ListedRecordType = { ...RECORD_TYPES[0], graphqlType: 'Ghost', kind: 'GHOST', connection: 'ghosts' };
    const withGhost = catalogueProblems({ ...catalogue, listed: [...RECORD_TYPES, ghost] }, subgraphs);
    expect(withGhost).toContain('encounters: the catalogue names Ghost, which this subgraph does not serve');
    expect(withGhost).toContain('encounters: Patient.ghosts (the connection of Ghost) does not exist');
  });

  describe('tables', () => {
    const databases = new Map<SubgraphName, Database>();
    beforeAll(async () => {
      for (const name of SUBGRAPH_NAMES) databases.set(name, await openSubgraphDatabase(name, 'memory://'));
    });
    afterAll(async () => Promise.all([...databases.values()].map((db) => db.close())));

    it('are the owners\' tables, with the columns the catalogue names', async () => {
      const missing: string[] = [];
      for (const row of [...RECORD_TYPES, ...OTHER_RECORD_TYPES] as (RecordTypeFacts & Partial<ListedRecordType>)[]) {
        const columns = new Set((await databases.get(row.owner)!.query<{ column_name: string }>(
          'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1', [row.table])).map((c) => c.column_name));
        if (!columns.size) {
          missing.push(`${row.owner}: no table ${row.table}`);
          continue;
        }
        const organization = row.organizationColumn === undefined ? 'organization_id' : row.organizationColumn;
        const needed = [row.patientColumn ?? 'patient_id', ...(organization ? [organization] : []), ...(row.addresseesColumn ? [row.addresseesColumn] : []),
          ...(row.timeColumn ? [row.timeColumn, 'id', 'sensitivity_labels'] : [])];
        for (const column of needed) if (!row.partOf && !columns.has(column)) missing.push(`${row.owner}: ${row.table}.${column}`);
      }
      expect(missing).toEqual([]);
    });

    // Last updated (docs/last-updated.md): every record table keeps the catalogue's column, set by its database on
    // insert (a default) and on every update that changes the row (a trigger), so no write path can forget it.
    it('keep the catalogue\'s last-updated column, defaulted and kept by a trigger', async () => {
      const missing: string[] = [];
      for (const row of ALL_RECORD_TYPES) {
        const db = databases.get(row.owner)!;
        const column = lastUpdatedColumnOf(row);
        const [found] = await db.query<{ data_type: string; is_nullable: string; column_default: string | null }>(
          'SELECT data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2',
          [row.table, column]);
        if (!found || found.data_type !== 'timestamp with time zone' || found.is_nullable !== 'NO' || !/now\(\)/.test(found.column_default ?? '')) {
          missing.push(`${row.owner}: ${row.table}.${column} (timestamptz NOT NULL DEFAULT now())`);
        }
        const triggers = await db.query<{ tgname: string }>(
          `SELECT t.tgname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgrelid = $1::regclass AND p.proname = 'record_last_updated' AND NOT t.tgisinternal`, [row.table]);
        if (!triggers.length) missing.push(`${row.owner}: ${row.table} has no record_last_updated trigger`);
      }
      expect(missing).toEqual([]);
    });
  });

  it('exposes lastUpdated on every record type and updatedSince on every Patient connection', () => {
    const schema = buildSchema(readFileSync(API_SCHEMA_FILE, 'utf8'));
    const patient = schema.getType('Patient') as GraphQLObjectType;
    const missing: string[] = [];
    for (const row of ALL_RECORD_TYPES) {
      // An element of its parent's resource (a Patient's identifiers): its changes move the parent's time instead.
      if (row.partOf && ALL_RECORD_TYPES.find((r) => r.graphqlType === row.partOf!.graphqlType)?.fhir.resourceType === row.fhir.resourceType) continue;
      const type = schema.getType(row.graphqlType) as GraphQLObjectType | undefined;
      if (!type?.getFields().lastUpdated?.description) missing.push(`${row.graphqlType}.lastUpdated`);
    }
    // Resolved by the owner from its column (a type that lists its fields one by one must name it: the default resolver reads nothing).
    for (const row of RECORD_TYPES) {
      const resolvers = SUBGRAPH_MODULES[row.owner].module.resolvers as Record<string, Record<string, unknown> | undefined>;
      if (typeof resolvers[row.graphqlType]?.lastUpdated !== 'function') missing.push(`${row.owner}: resolver ${row.graphqlType}.lastUpdated`);
    }
    for (const row of RECORD_TYPES) {
      const argument = patient.getFields()[row.connection]?.args.find((a) => a.name === 'updatedSince');
      if (!argument?.description || String(argument.type) !== 'DateTime') missing.push(`Patient.${row.connection}(updatedSince: DateTime)`);
    }
    expect(missing).toEqual([]);
  });

  it('derives the scope map, the timeline kinds, the publishing owners and the export connections', () => {
    expect(TIMELINE_KINDS).toEqual(RECORD_TYPES.map((row) => row.kind));
    for (const row of RECORD_TYPES) {
      expect(TIMELINE_KIND_TYPES[row.kind]).toEqual({ owner: row.owner, typename: row.graphqlType });
      expect(CONNECTION_RESOURCES[row.connection]).toEqual({ resourceType: row.fhir.resourceType, category: row.category });
      expect(RESOURCE_CATEGORIES[row.fhir.resourceType]?.all).toContain(row.category);
    }
    // Granular categories: lab results and home measurements are both Observations, lab and radiology reports both DiagnosticReports.
    // Clinical observations (vital signs, social history…) share vital-signs with home measurements: a granular scope on it covers both.
    expect(RESOURCE_CATEGORIES.Observation).toEqual({
      all: ['labs', 'home-measurements', 'observations'],
      granular: {
        laboratory: ['labs'], 'vital-signs': ['home-measurements', 'observations'], 'social-history': ['observations'], survey: ['observations'], exam: ['observations'],
        imaging: ['observations'], procedure: ['observations'], therapy: ['observations'], activity: ['observations'],
      },
    });
    // Clinical notes sent as DiagnosticReports are told apart by their LOINC note category (and published as DocumentReferences besides).
    const notes = Object.fromEntries(['34117-2', '51847-2', '11488-4', '18842-5', '11506-3', '28570-0', '34111-5', '57133-1', '34746-8', '34109-9'].map((code) => [code, ['notes']]));
    expect(RESOURCE_CATEGORIES.DiagnosticReport).toEqual({ all: ['labs', 'notes', 'imaging-reports'], granular: { LAB: ['labs'], EC: ['labs'], PAT: ['labs'], RAD: ['imaging-reports'], ...notes } });
    expect(RESOURCE_CATEGORIES.DocumentReference).toEqual({ all: ['notes'], granular: { 'clinical-note': ['notes'] } });
    expect(RESOURCE_CATEGORIES.Patient).toEqual({ all: ['demographics', 'identifiers'] });
    // Published types go to the owner of their record type; a record inside another (a RAD report) does not change the resource type's owner.
    expect(RESOURCE_OWNERS).toMatchObject({ Patient: 'identity', Encounter: 'encounters', ServiceRequest: 'encounters', Observation: 'labs', DiagnosticReport: 'labs', ImagingStudy: 'imaging', EpisodeOfCare: 'public-health', DocumentReference: 'imaging' });
    expect(RESOURCE_OWNERS).not.toHaveProperty('Task');
  });

  it('has a FHIR resource module for each record type: an export for every one, publishing for the published ones', () => {
    const rows = [...RECORD_TYPES, ...OTHER_RECORD_TYPES] as RecordTypeFacts[];
    // The Patient is exported from the patient's own fields, the identifiers inside it (resources/patient.ts).
    const exported = rows.filter((row) => row.graphqlType !== 'Patient' && row.partOf?.graphqlType !== 'Patient' && row.fhir.resourceType !== 'Consent').map((row) => row.graphqlType);
    expect([...EXPORTED_RECORD_TYPES].sort()).toEqual(exported.sort());
    expect([...PUBLISHED_TYPES].sort()).toEqual(Object.keys(RESOURCE_OWNERS).sort());
    for (const module of RESOURCE_MODULES) for (const e of module.exports ?? []) expect(recordTypeOf(recordTypeOfExport(e))?.fhir.resourceType).toBe(module.resourceType);
  });

  it('keeps every operation of the web client within the gateway\'s query limits (its timeline names every record type)', () => {
    // The web client calls /graphql like any caller: the public cost limit (QUERY_LIMITS.maxCost), not the generated one.
    const armor = new ApolloArmor({
      costLimit: { maxCost: QUERY_LIMITS.maxCost }, maxDepth: { n: QUERY_LIMITS.maxDepth },
      maxAliases: { n: QUERY_LIMITS.maxAliases }, maxDirectives: { n: QUERY_LIMITS.maxDirectives },
    }).protect().validationRules ?? [];
    const schema = buildSchema(readFileSync(API_SCHEMA_FILE, 'utf8'));
    // The operations as web/src/operations.ts writes them (each a graphql(`…`) template), read as text: the
    // web client is its own TypeScript project.
    const source = readFileSync(new URL('../web/src/operations.ts', import.meta.url), 'utf8');
    const documents = [...source.matchAll(/graphql\(`([^`]*)`\)/g)].map((m) => parse(m[1]!) as DocumentNode);
    const names = documents.map((d) => (d.definitions[0] as { name?: { value: string } }).name?.value);
    expect(names).toContain('PatientTimeline');
    for (const [n, document] of documents.entries()) {
      expect({ name: names[n], errors: validate(schema, document, armor as never).map((e) => e.message) }).toEqual({ name: names[n], errors: [] });
    }
  });

  it('exports every record type in one operation within the gateway\'s query limits (a page of 100 of each)', () => {
    const everything = exportPlan({ sub: 'p', role: 'patient', org: null, scope: 'patient/*.rs', patient: 'p', purposeOfUse: 'TREAT', breakGlassReason: null, clientId: null });
    expect(everything.connections).toEqual(RECORD_TYPES.map((row) => row.connection));
    const plan = { ...everything, reportLinks: true, radiologyReports: true };
    const operation = buildOperation({ patientFields: true, plan }, Object.fromEntries(everything.connections.map((c) => [c, null])));
    const limits = (maxCost: number) => new ApolloArmor({
      costLimit: { maxCost, exposeLimits: true }, maxDepth: { n: QUERY_LIMITS.maxDepth },
      maxAliases: { n: QUERY_LIMITS.maxAliases }, maxDirectives: { n: QUERY_LIMITS.maxDirectives },
    }).protect().validationRules ?? [];
    const schema = buildSchema(readFileSync(API_SCHEMA_FILE, 'utf8'));
    // The export's operations are the gateway's own (gateway/src/query-cost.ts): held to maxGeneratedCost, the
    // single patient's (\$everything, later pages) and the Bulk Data export's batch of patients alike.
    for (const query of [operation.query, buildBatchOperation(plan).query]) {
      const document = parse(query, { maxTokens: QUERY_LIMITS.maxTokens });
      expect(validate(schema, document, limits(QUERY_LIMITS.maxGeneratedCost) as never).map((e) => e.message)).toEqual([]);
      // The check sees the cost: under a tenth of the limit the same operation is refused.
      expect(validate(schema, document, limits(QUERY_LIMITS.maxGeneratedCost / 10) as never).map((e) => e.message).join()).toMatch(/Cost limit/);
    }
    // Callers keep the smaller limit.
    expect(QUERY_LIMITS.maxCost).toBeLessThan(QUERY_LIMITS.maxGeneratedCost);
  });
});
