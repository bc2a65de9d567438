/**
 * Field-level consent with graphql-shield. Each subgraph declares, per object
 * type, what it is:
 *
 * - a patient record (`records`): its category and the fields belonging to
 *   another category (an imaging study's report is `imaging-reports`); every
 *   field is checked against the policy for that record (identifying fields
 *   with the record's own category, so they are open to whoever may see the
 *   record), and what is returned is noted as disclosed;
 * - a value or registry type (`open`): codings, periods, pages, organisations;
 *   reached only through a field that was itself checked.
 *
 * The rule tree lists every field of every object type explicitly, and the
 * fallback rule denies, so a field added without a rule is closed. Denied
 * fields resolve to null with `extensions.code` CONSENT_DENIED or FORBIDDEN.
 */
import { GraphQLError, isObjectType, type GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { allow, rule, shield, type IRules } from 'graphql-shield';
import type { Category } from './categories.js';
import { ALL_RECORD_TYPES } from '../records/record-types.js';
import type { SubgraphName } from '../runtime/subgraph-names.js';
import type { SubgraphContext } from '../runtime/subgraph-context.js';
import { accessOfRow, decideRow, type RecordAccess } from './record-access.js';

type Row = Record<string, any>;

/** The field rules of a record type, besides its record access: fields open to whoever sees the record, fields of another category. */
export interface FieldRules {
  /** Fields open to whoever may see the record: lists whose every entry its owner checks (the timeline). */
  openFields?: string[];
  /** Fields of another category than the record's (besides the catalogue's parts: an imaging study's report). */
  fieldCategories?: Record<string, Category>;
}

/** A record type's rule: how the policy sees its rows, and its field rules. */
export type RecordRule = RecordAccess & FieldRules;

export interface ConsentRules {
  records: Record<string, RecordRule>;
  /** Types whose every field is open (values, registries, connections, federation internals). */
  open: string[];
}

/**
 * The rules of every record type an owner keeps, from the catalogue
 * (lib/records/record-types.ts): each row it owns (and each view of one) under its
 * record access, with the fields of the rows held inside it (a study's
 * report) under theirs, and the field rules the owner adds.
 */
export function ownedRecordRules(owner: SubgraphName, fieldRules: Record<string, FieldRules & Pick<RecordAccess, 'organization'>> = {}): Record<string, RecordRule> {
  const rules: Record<string, RecordRule> = {};
  for (const row of ALL_RECORD_TYPES.filter((r) => r.owner === owner && !r.partOf)) {
    const parts = Object.fromEntries(ALL_RECORD_TYPES.filter((part) => part.partOf?.graphqlType === row.graphqlType).map((part) => [part.partOf!.field, part.category]));
    for (const typeName of [row.graphqlType, ...(row.views ?? [])]) {
      const extra = fieldRules[typeName] ?? {};
      const fieldCategories = { ...parts, ...extra.fieldCategories };
      rules[typeName] = { ...accessOfRow(row), ...extra, ...(Object.keys(fieldCategories).length ? { fieldCategories } : {}) };
    }
  }
  const unknown = Object.keys(fieldRules).filter((name) => !rules[name]);
  if (unknown.length) throw new Error(`field rules for ${unknown.join(', ')}: not a record type ${owner} owns in lib/records/record-types.ts`);
  return rules;
}

function consentRule(typeName: string, spec: RecordRule, category: Category, identifying = false) {
  return rule(`consent:${typeName}:${category}${identifying ? ':id' : ''}`, { cache: 'no_cache' })(async (parent: Row, _args, context: SubgraphContext) => {
    const { facts, decision } = await decideRow(context.consent, spec, parent, category);
    if (decision.allow) {
      context.consent.disclose(facts.patientId, category, String(parent.id), decision.breakGlass);
      return true;
    }
    // The id only identifies a record the loaders already admitted (a
    // patient-bound app may hold its patient's id without the demographics
    // scope); it stays readable, and is recorded as disclosed when permitted.
    if (identifying) return true;
    return new GraphQLError(decision.reason, { extensions: { code: decision.code, category } });
  });
}

const denyUnlisted = new GraphQLError('No access rule covers this field', { extensions: { code: 'FORBIDDEN' } });

/** Builds the explicit rule tree for every object type of `schema`. */
export function buildRuleTree(schema: GraphQLSchema, rules: ConsentRules): IRules {
  const tree: Record<string, Record<string, unknown>> = {};
  const open = new Set(rules.open);
  // graphql-shield wants one rule object per name.
  const ruleCache = new Map<string, ReturnType<typeof consentRule>>();
  const ruleFor = (typeName: string, spec: RecordRule, category: Category, identifying: boolean) => {
    const key = `${typeName}:${category}:${identifying}`;
    if (!ruleCache.has(key)) ruleCache.set(key, consentRule(typeName, spec, category, identifying));
    return ruleCache.get(key)!;
  };
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const spec = rules.records[type.name];
    if (!spec && !open.has(type.name)) continue; // left to the fallback: deny
    const fields: Record<string, unknown> = {};
    for (const field of Object.keys(type.getFields())) {
      if (!spec || spec.openFields?.includes(field)) {
        fields[field] = allow;
        continue;
      }
      const category = spec.fieldCategories?.[field] ?? spec.category;
      fields[field] = ruleFor(type.name, spec, category, field === 'id');
    }
    tree[type.name] = fields;
  }
  return tree as IRules;
}

/** Wraps a subgraph schema with its consent rules (fallback: deny). */
export function withConsent(schema: GraphQLSchema, rules: ConsentRules): GraphQLSchema {
  const permissions = shield(buildRuleTree(schema, rules), {
    fallbackRule: rule('deny-unlisted')(() => denyUnlisted),
    allowExternalErrors: true,
    debug: false,
  });
  return applyMiddleware(schema, permissions);
}
