/**
 * Holds the catalogue of record types (lib/records/record-types.ts) against the
 * subgraphs' SDL and consent rules. Returns the problems found, one line each:
 *
 * - an SDL record type (a type its subgraph serves with a `patient` field)
 *   or a consent rule that the catalogue does not name;
 * - a catalogue row (or view) whose type its owner does not serve, a part
 *   whose parent lacks the field, a listed type whose owner lacks the
 *   Patient connection;
 * - identity's TimelineKind enum, TimelineNode union and entity stubs that
 *   differ from the catalogue's kinds and types;
 * - a DataCategory enum that differs from the consent categories, or a
 *   category no row has.
 */
import { parse, type DefinitionNode, type FieldDefinitionNode, type ObjectTypeDefinitionNode } from 'graphql';
import { CATEGORIES, categoryToEnum } from '../../lib/consent/categories.js';
import type { ConsentRules } from '../../lib/consent/shield.js';
import type { ListedRecordType, RecordTypeFacts } from '../../lib/records/record-types.js';
import type { SubgraphName } from '../../lib/runtime/services.js';

export interface CatalogueUnderCheck {
  listed: readonly ListedRecordType[];
  others: readonly RecordTypeFacts[];
}

export interface SubgraphUnderCheck {
  name: SubgraphName;
  sdl: string;
  consentRules: ConsentRules;
}

const isObject = (d: DefinitionNode): d is ObjectTypeDefinitionNode => d.kind === 'ObjectTypeDefinition';
/** A stub of another subgraph's entity (`@key(..., resolvable: false)`). */
const isStub = (d: ObjectTypeDefinitionNode) => Boolean(d.directives?.some((directive) => directive.name.value === 'key'
  && directive.arguments?.some((a) => a.name.value === 'resolvable' && a.value.kind === 'BooleanValue' && !a.value.value)));
const namedType = (field: FieldDefinitionNode): string => {
  let type = field.type;
  while (type.kind !== 'NamedType') type = type.type;
  return type.name.value;
};

export function catalogueProblems(catalogue: CatalogueUnderCheck, subgraphs: SubgraphUnderCheck[]): string[] {
  const problems: string[] = [];
  const rows: readonly RecordTypeFacts[] = [...catalogue.listed, ...catalogue.others];
  const names = (row: RecordTypeFacts) => [row.graphqlType, ...(row.views ?? [])];
  const rowOf = (type: string) => rows.find((row) => names(row).includes(type));

  for (const subgraph of subgraphs) {
    const definitions = parse(subgraph.sdl).definitions;
    const served = new Map(definitions.filter(isObject).filter((d) => !isStub(d)).map((d) => [d.name.value, d]));
    const fieldsOf = (type: string) => new Map((served.get(type)?.fields ?? []).map((f) => [f.name.value, f]));

    for (const [type, definition] of served) {
      if (['Patient', 'Query', 'Mutation'].includes(type) || !(definition.fields ?? []).some((f) => f.name.value === 'patient')) continue;
      const row = rowOf(type);
      if (!row) problems.push(`${subgraph.name}: ${type} has a patient but is not in the catalogue`);
      else if (row.owner !== subgraph.name) problems.push(`${subgraph.name}: ${type} is served here but the catalogue says ${row.owner} owns it`);
    }
    for (const type of Object.keys(subgraph.consentRules.records)) {
      const row = rowOf(type);
      if (!row) problems.push(`${subgraph.name}: the consent rule of ${type} names no record type of the catalogue`);
      else if (row.owner !== subgraph.name) problems.push(`${subgraph.name}: has a consent rule for ${type}, which the catalogue gives to ${row.owner}`);
    }
    for (const row of rows.filter((r) => r.owner === subgraph.name)) {
      for (const type of names(row)) if (!served.has(type)) problems.push(`${subgraph.name}: the catalogue names ${type}, which this subgraph does not serve`);
      if (row.partOf) {
        const field = fieldsOf(row.partOf.graphqlType).get(row.partOf.field);
        if (!field) problems.push(`${subgraph.name}: ${row.graphqlType} is part of ${row.partOf.graphqlType}.${row.partOf.field}, which does not exist`);
        else if (namedType(field) !== row.graphqlType) problems.push(`${subgraph.name}: ${row.partOf.graphqlType}.${row.partOf.field} is not a ${row.graphqlType}`);
      }
    }
    for (const row of catalogue.listed.filter((r) => r.owner === subgraph.name)) {
      const field = fieldsOf('Patient').get(row.connection);
      if (!field) problems.push(`${subgraph.name}: Patient.${row.connection} (the connection of ${row.graphqlType}) does not exist`);
      else if (namedType(field) !== `${row.graphqlType}Connection`) problems.push(`${subgraph.name}: Patient.${row.connection} is not a ${row.graphqlType}Connection`);
    }
    const dataCategory = definitions.find((d) => d.kind === 'EnumTypeDefinition' && d.name.value === 'DataCategory');
    if (dataCategory && dataCategory.kind === 'EnumTypeDefinition') {
      const values = (dataCategory.values ?? []).map((v) => v.name.value);
      const expected = CATEGORIES.map(categoryToEnum);
      if (values.join() !== expected.join()) problems.push(`${subgraph.name}: DataCategory is ${values.join(', ')}, the categories are ${expected.join(', ')}`);
    }
    if (subgraph.name === 'identity') {
      const kinds = definitions.find((d) => d.kind === 'EnumTypeDefinition' && d.name.value === 'TimelineKind');
      const values = kinds?.kind === 'EnumTypeDefinition' ? (kinds.values ?? []).map((v) => v.name.value) : [];
      const expected = catalogue.listed.map((row) => row.kind);
      if (values.join() !== expected.join()) problems.push(`identity: TimelineKind is ${values.join(', ')}, the catalogue's kinds are ${expected.join(', ')}`);
      const union = definitions.find((d) => d.kind === 'UnionTypeDefinition' && d.name.value === 'TimelineNode');
      const members = union?.kind === 'UnionTypeDefinition' ? (union.types ?? []).map((t) => t.name.value) : [];
      const types = catalogue.listed.map((row) => row.graphqlType);
      if ([...members].sort().join() !== [...types].sort().join()) problems.push(`identity: TimelineNode is ${members.join(' | ')}, the catalogue's types are ${types.join(' | ')}`);
      const stubs = new Set(definitions.filter(isObject).filter(isStub).map((d) => d.name.value));
      for (const type of types) if (!stubs.has(type)) problems.push(`identity: no entity stub for ${type}, a timeline node`);
    }
  }
  for (const category of CATEGORIES) if (!rows.some((row) => row.category === category)) problems.push(`the category ${category} is the category of no record type`);
  return problems;
}
