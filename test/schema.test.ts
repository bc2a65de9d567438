/**
 * The checked-in supergraph is what the gateway serves: it must be exactly
 * what composing today's subgraph SDL files produces, and every type, field,
 * argument and enum value in it must be documented.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildASTSchema, buildSchema, isEnumType, isInputObjectType, isObjectType, isInterfaceType, parse } from 'graphql';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { describe, expect, it } from 'vitest';
import { API_SCHEMA_FILE, composeSupergraph, SUPERGRAPH_FILE } from '../gateway/src/supergraph.js';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { buildBaseSchema, ROOT, subgraphSdl } from '../lib/runtime/subgraph.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';
import { nullabilityViolations } from './support/nullability.js';

describe('supergraph composition', () => {
  it('composes without errors and matches the checked-in schema/supergraph.graphql', () => {
    const result = composeSupergraph();
    expect(result.errors).toBeUndefined();
    expect(readFileSync(SUPERGRAPH_FILE, 'utf8'), 'schema/supergraph.graphql is stale: run npm run compose').toBe(result.supergraphSdl);
  });

  it('matches the checked-in public API schema (schema/api.graphql), free of federation machinery', () => {
    const result = composeSupergraph();
    const file = readFileSync(API_SCHEMA_FILE, 'utf8');
    expect(file, 'schema/api.graphql is stale: run npm run compose').toBe(result.apiSchemaSdl);
    expect(file).not.toMatch(/@join__|@link|join__|link__|@key|@shareable|_Service|_entities/);
  });

  it('keeps every description in the public API schema', () => {
    const schema = buildSchema(readFileSync(API_SCHEMA_FILE, 'utf8'));
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || ['String', 'Int', 'Float', 'Boolean', 'ID'].includes(type.name)) continue;
      if (!type.description && type.name !== 'Query' && type.name !== 'Mutation') missing.push(type.name);
      if (isObjectType(type) || isInputObjectType(type) || isInterfaceType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of 'args' in field ? field.args : []) if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
      if (isEnumType(type)) for (const value of type.getValues()) if (!value.description) missing.push(`${type.name}.${value.name}`);
    }
    expect(missing).toEqual([]);
    expect(schema.getQueryType()?.getFields().searchPatients?.description).toMatch(/at least one/);
  });

  it.each(SUBGRAPH_NAMES)('documents every type, field, argument and enum value of the %s subgraph', (name) => {
    const document = parse(subgraphSdl(name));
    const missing: string[] = [];
    for (const definition of document.definitions) {
      if (!('name' in definition) || !definition.name) continue;
      const typeName = definition.name.value;
      if (typeName !== 'Query' && typeName !== 'Mutation' && !('description' in definition && definition.description)) missing.push(typeName);
      if ('fields' in definition) {
        for (const field of definition.fields ?? []) {
          if (!field.description) missing.push(`${typeName}.${field.name.value}`);
          if ('arguments' in field) for (const arg of field.arguments ?? []) if (!arg.description) missing.push(`${typeName}.${field.name.value}(${arg.name.value})`);
        }
      }
      if ('values' in definition) for (const value of definition.values ?? []) if (!value.description) missing.push(`${typeName}.${value.name.value}`);
    }
    expect(missing).toEqual([]);
  });

  // Types several subgraphs serve alike (LogicalReference…) are written once, in schema/shared, and appended by
  // subgraphSdl to exactly the subgraphs whose own file names them.
  it('writes the types several subgraphs serve once, in schema/shared, served where they are named', () => {
    const sharedDirectory = path.join(ROOT, 'schema', 'shared');
    const own = (name: string) => readFileSync(path.join(ROOT, 'schema', `${name}.graphql`), 'utf8');
    const files = readdirSync(sharedDirectory).filter((f) => f.endsWith('.graphql'))
      .map((f) => [...readFileSync(path.join(sharedDirectory, f), 'utf8').matchAll(/^type (\w+)/gm)].map((m) => m[1]!));
    expect(files.flat()).toEqual(expect.arrayContaining(['LogicalReference', 'ReferenceIdentifier']));
    for (const types of files) {
      const naming = SUBGRAPH_NAMES.filter((name) => types.some((type) => new RegExp(`\\b${type}\\b`).test(own(name))));
      for (const type of types) {
        const serving = SUBGRAPH_NAMES.filter((name) => parse(subgraphSdl(name)).definitions.some((d) => 'name' in d && d.name?.value === type));
        expect(serving, type).toEqual(naming);
        for (const name of SUBGRAPH_NAMES) expect(own(name), `${name} declares ${type} itself`).not.toMatch(new RegExp(`^type ${type}\\b`, 'm'));
      }
    }
    expect(SUBGRAPH_NAMES.filter((name) => /\bLogicalReference\b/.test(subgraphSdl(name))).sort()).toEqual(['encounters', 'imaging', 'labs', 'public-health']);
  });

  it('gives the supergraph the owner\'s description of shared entities', () => {
    const schema = buildASTSchema(parse(readFileSync(SUPERGRAPH_FILE, 'utf8')), { assumeValidSDL: true });
    const patient = schema.getType('Patient');
    expect(patient?.description).toMatch(/FHIR Patient/);
    expect(isObjectType(patient) || isInterfaceType(patient)).toBe(true);
    expect(isEnumType(schema.getType('EncounterClass'))).toBe(true);
    expect(isInputObjectType(schema.getType('Patient'))).toBe(false);
  });

  it('allows null wherever a failure or a refusal must not take the record, the patient or the response with it', () => {
    const subgraphs = SUBGRAPH_NAMES.map((name) => ({ name, sdl: subgraphSdl(name), schema: buildBaseSchema(SUBGRAPH_MODULES[name].module), consentRules: SUBGRAPH_MODULES[name].module.consentRules }));
    expect(nullabilityViolations(subgraphs)).toEqual([]);
    // The rules bite: a non-null reference to an Organization (identity's) in encounters is reported.
    const encounters = subgraphs.find((s) => s.name === 'encounters')!;
    const strictSdl = encounters.sdl.replace(/(type Encounter [^]*?organization: Organization)\n/, '$1!\n');
    expect(strictSdl).not.toBe(encounters.sdl);
    const strict = { ...encounters, sdl: strictSdl, schema: buildSubgraphSchema(parse(strictSdl)) };
    expect(nullabilityViolations(subgraphs.map((s) => (s.name === 'encounters' ? strict : s))))
      .toContain('encounters: Encounter.organization (rule 1: a reference to an entity another subgraph serves)');
  });
});
