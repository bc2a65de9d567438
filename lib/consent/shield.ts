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
import type { Category } from '../scopes.js';
import type { SubgraphContext } from '../subgraph-context.js';
import type { ConsentAccess } from './access.js';
import type { Decision, RecordFacts } from './policy.js';

type Row = Record<string, any>;

export interface RecordTypeRule {
  category: Category;
  /** Column holding the producing organisation (default organization_id); null for the Patient record. */
  organizationColumn?: string | null;
  /**
   * Column (text[]) of organisations the record is addressed to besides its
   * producer (a referral's receiving organisation, the organisations taking
   * part in a remote consultation): their staff see it as the producer's do.
   */
  addresseesColumn?: string;
  /** FHIR resource type, where the category spans several (see RecordFacts.resourceType); applies to the record's own category. */
  resourceType?: string;
  /** Fields open to whoever may see the record: lists whose every entry its owner checks (the timeline). */
  openFields?: string[];
  /** Fields of another category than the record's. */
  fieldCategories?: Record<string, Category>;
  /** How to read the patient id from the parent (default row.patient_id). */
  patientId?: (row: Row) => string;
}

export interface ConsentRules {
  records: Record<string, RecordTypeRule>;
  /** Types whose every field is open (values, registries, connections, federation internals). */
  open: string[];
}

export function recordFacts(spec: RecordTypeRule, row: Row, category: Category): RecordFacts {
  const organizationColumn = spec.organizationColumn === undefined ? 'organization_id' : spec.organizationColumn;
  return {
    patientId: spec.patientId ? spec.patientId(row) : row.patient_id,
    category,
    organizationId: organizationColumn === null ? null : row[organizationColumn] ?? '',
    sensitivityLabels: row.sensitivity_labels ?? [],
    // A field of another category (an imaging study's report) is another resource.
    ...(spec.resourceType && category === spec.category ? { resourceType: spec.resourceType } : {}),
  };
}

/**
 * The policy's decision for one row: as its producer's record, or, when that
 * is denied, as the record of any organisation it is addressed to.
 */
export async function decideRow(consent: ConsentAccess, spec: RecordTypeRule, row: Row, category: Category): Promise<{ facts: RecordFacts; decision: Decision }> {
  const facts = recordFacts(spec, row, category);
  const decision = await consent.decide(facts);
  if (decision.allow || !spec.addresseesColumn) return { facts, decision };
  for (const organizationId of (row[spec.addresseesColumn] as string[] | null) ?? []) {
    const asAddressee = await consent.decide({ ...facts, organizationId });
    if (asAddressee.allow) return { facts, decision: asAddressee };
  }
  return { facts, decision };
}

function consentRule(typeName: string, spec: RecordTypeRule, category: Category, identifying = false) {
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
  const ruleFor = (typeName: string, spec: RecordTypeRule, category: Category, identifying: boolean) => {
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
