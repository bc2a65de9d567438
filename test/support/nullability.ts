/**
 * Where the schema must allow null, so that a failure or a refusal nulls only
 * what it concerns, never the record, the patient or the whole response
 * around it (GraphQL propagates a null up to the nearest nullable field):
 *
 * 1. references to an entity this subgraph does not serve (an Organization in
 *    encounters, a FollowUpTask in a discharge): the owner may be down or may
 *    refuse the caller; lists of them have nullable items;
 * 2. the fields of an entity several subgraphs contribute to (Patient): each
 *    is fetched from its own subgraph, which may fail alone;
 * 3. root query fields: one subgraph failing leaves the others' answers;
 * 4. every field of a record type under a consent rule, but its id: a field
 *    the caller may not see is null with the consent error, and the record
 *    around it stays (mutation results included: a write that succeeded
 *    returns its result).
 *
 * Returns the fields that break a rule, as `subgraph: Type.field (rule n)`.
 */
import { getNamedType, isListType, isNonNullType, isObjectType, parse, type GraphQLField, type GraphQLSchema, type GraphQLType } from 'graphql';
import type { SubgraphName } from '../../lib/runtime/services.js';
import type { ConsentRules } from '../../lib/consent/shield.js';

interface SubgraphUnderCheck {
  name: SubgraphName;
  sdl: string;
  schema: GraphQLSchema;
  consentRules: ConsentRules;
}

/** Entity types (with @key) of a subgraph SDL, and whether this subgraph defines fields beyond the key. */
function entitiesOf(sdl: string): Map<string, { keyFields: Set<string>; fields: Set<string> }> {
  const entities = new Map<string, { keyFields: Set<string>; fields: Set<string> }>();
  for (const definition of parse(sdl).definitions) {
    if (definition.kind !== 'ObjectTypeDefinition' && definition.kind !== 'ObjectTypeExtension') continue;
    const key = definition.directives?.find((d) => d.name.value === 'key');
    if (!key) continue;
    const fieldsArgument = key.arguments?.find((a) => a.name.value === 'fields');
    const keyFields = new Set(fieldsArgument?.value.kind === 'StringValue' ? fieldsArgument.value.value.split(/\s+/) : []);
    const resolvable = key.arguments?.find((a) => a.name.value === 'resolvable');
    const fields = new Set((definition.fields ?? []).map((f) => f.name.value));
    const stub = resolvable?.value.kind === 'BooleanValue' && !resolvable.value.value;
    entities.set(definition.name.value, { keyFields, fields: stub ? new Set([...keyFields]) : fields });
  }
  return entities;
}

const nullableAll = (type: GraphQLType): boolean => {
  if (isNonNullType(type)) return false;
  if (isListType(type)) return nullableAll(type.ofType);
  return true;
};
const nullableOuter = (type: GraphQLType) => !isNonNullType(type);

export function nullabilityViolations(subgraphs: SubgraphUnderCheck[]): string[] {
  const entities = new Map(subgraphs.map((s) => [s.name, entitiesOf(s.sdl)]));
  // Entity types to which more than one subgraph contributes non-key fields.
  const contributors = new Map<string, number>();
  for (const map of entities.values()) {
    for (const [type, { keyFields, fields }] of map) if ([...fields].some((f) => !keyFields.has(f))) contributors.set(type, (contributors.get(type) ?? 0) + 1);
  }
  const violations: string[] = [];
  for (const subgraph of subgraphs) {
    const own = entities.get(subgraph.name)!;
    for (const type of Object.values(subgraph.schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('_')) continue;
      const fields = Object.values(type.getFields()) as GraphQLField<unknown, unknown>[];
      for (const field of fields) {
        const where = `${subgraph.name}: ${type.name}.${field.name}`;
        const target = getNamedType(field.type).name;
        const targetHere = own.get(target);
        const isEntityElsewhere = [...entities.values()].some((map) => map.has(target));
        const stubHere = isEntityElsewhere && (!targetHere || [...targetHere.fields].every((f) => targetHere.keyFields.has(f)));
        if (stubHere && !nullableAll(field.type)) violations.push(`${where} (rule 1: a reference to an entity another subgraph serves)`);
        const entityHere = own.get(type.name);
        if (entityHere && (contributors.get(type.name) ?? 0) > 1 && !entityHere.keyFields.has(field.name) && !nullableOuter(field.type)) {
          violations.push(`${where} (rule 2: a field of an entity several subgraphs contribute to)`);
        }
        if (type.name === 'Query' && !field.name.startsWith('_') && !nullableOuter(field.type)) violations.push(`${where} (rule 3: a root query field)`);
        const record = subgraph.consentRules.records[type.name];
        if (record && field.name !== 'id' && !record.openFields?.includes(field.name) && !nullableOuter(field.type)) {
          violations.push(`${where} (rule 4: a field under a consent rule)`);
        }
      }
    }
  }
  return violations;
}
