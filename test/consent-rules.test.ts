/**
 * Every field of every object type in every subgraph has an explicit
 * graphql-shield rule; the fallback (deny) is a safety net, never the plan.
 * Fails when a field or type is added without deciding who may see it.
 */
import { isObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { buildRuleTree } from '../lib/consent/shield.js';
import { SUBGRAPH_NAMES } from '../lib/runtime/services.js';
import { buildBaseSchema } from '../lib/runtime/subgraph.js';
import { SUBGRAPH_MODULES } from '../subgraphs/index.js';

describe.each(SUBGRAPH_NAMES)('consent rules of the %s subgraph', (name) => {
  const module = SUBGRAPH_MODULES[name].module;
  const schema = buildBaseSchema(module);
  const tree = buildRuleTree(schema, module.consentRules) as Record<string, Record<string, unknown>>;

  it('cover every field of every object type explicitly', () => {
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.keys(type.getFields())) if (!tree[type.name]?.[field]) missing.push(`${type.name}.${field}`);
    }
    expect(missing).toEqual([]);
  });

  it('name only types that exist, each once', () => {
    const declared = [...Object.keys(module.consentRules.records), ...module.consentRules.open];
    expect(declared.filter((type) => !schema.getType(type))).toEqual([]);
    expect(new Set(declared).size).toBe(declared.length);
  });

  it('check every patient-record type against the policy (not open)', () => {
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name === 'Query' || type.name === 'Mutation' || !type.getFields().patient) continue;
      expect(Object.keys(module.consentRules.records), `${type.name} has a patient field`).toContain(type.name);
    }
  });
});
