/**
 * The alliance's coding policy: which code systems a published element must
 * carry (issue 27). Configuration, not code: codes are accepted as sent in any
 * recognised system (resources/code-systems.ts: their formats and check digits
 * still checked), every coding kept; the policy only says what the alliance
 * additionally requires of an element, checked at publish, each refusal an
 * OperationOutcome issue naming the element.
 *
 * Where it comes from, read at each publication (so an operator's change
 * applies without a rebuild; the parsed value is cached per source):
 * - `CODING_POLICY`: the policy as JSON, or
 * - `CODING_POLICY_FILE`: a path to a JSON file holding it;
 * - else DEFAULT_CODING_POLICY below.
 *
 * The policy maps `ResourceType.element` (an element holding a CodeableConcept
 * or a list of them) to `{ "anyOf": [system URIs] }`: each concept sent there
 * must have a coding in one of the systems (an absent element is the
 * module's to require or not). `{}` requires nothing. Example, an alliance
 * that reports diagnoses in ICD-10:
 *
 *     CODING_POLICY='{"Condition.code":{"anyOf":["http://hl7.org/fhir/sid/icd-10"]}}'
 *
 * A policy that cannot be read (bad JSON, an unknown shape) refuses every
 * publication with a 500-free 503 outcome naming CODING_POLICY, rather than
 * publishing unchecked: see `codingPolicy()`.
 */
import { readFileSync } from 'node:fs';
import { SYSTEM } from '../../../lib/records/terminology.js';
import { ICD10_CM, systemName } from './resources/code-systems.js';
import { isObject } from './resources/elements.js';
import type { EntryIssues, Json } from './resources/module.js';

export type CodingPolicy = Record<string, { anyOf: string[] }>;

/**
 * The default: a diagnosis is coded in ICD-10 (WHO or CM) or SNOMED CT — what
 * hospitals send (a SNOMED-only Condition is accepted); nothing else is
 * required beyond what each resource module needs to store the record.
 */
export const DEFAULT_CODING_POLICY: CodingPolicy = {
  'Condition.code': { anyOf: [SYSTEM.icd10, ICD10_CM, SYSTEM.snomed] },
};

let cached: { source: string; policy: CodingPolicy | Error } | null = null;

/** Parses and checks a policy document (an Error when it is not one). */
export function parseCodingPolicy(text: string): CodingPolicy | Error {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return new Error(`CODING_POLICY is not JSON: ${(error as Error).message}`);
  }
  if (!isObject(value)) return new Error('CODING_POLICY must be an object of "ResourceType.element": { "anyOf": [systems] }');
  for (const [path, rule] of Object.entries(value)) {
    if (!/^[A-Z][A-Za-z]+\.[a-z][A-Za-z]*$/.test(path)) return new Error(`CODING_POLICY: ${path} is not ResourceType.element`);
    if (!isObject(rule) || !Array.isArray(rule.anyOf) || !rule.anyOf.length || !rule.anyOf.every((s: unknown) => typeof s === 'string' && s.length > 0)) {
      return new Error(`CODING_POLICY: ${path} needs { "anyOf": [one or more system URIs] }`);
    }
  }
  return value as CodingPolicy;
}

/** The policy in force: CODING_POLICY, else CODING_POLICY_FILE, else the default; an Error when the configured one is unreadable. */
export function codingPolicy(env: NodeJS.ProcessEnv = process.env): CodingPolicy | Error {
  const inline = env.CODING_POLICY;
  const file = env.CODING_POLICY_FILE;
  const source = inline !== undefined && inline !== '' ? `inline:${inline}` : file ? `file:${file}` : 'default';
  if (cached?.source === source) return cached.policy;
  let policy: CodingPolicy | Error;
  if (source === 'default') policy = DEFAULT_CODING_POLICY;
  else if (source.startsWith('inline:')) policy = parseCodingPolicy(inline!);
  else {
    try {
      policy = parseCodingPolicy(readFileSync(file!, 'utf8'));
    } catch (error) {
      policy = new Error(`CODING_POLICY_FILE ${file} cannot be read: ${(error as Error).message}`);
    }
  }
  cached = { source, policy };
  return policy;
}

/** Checks one published resource against the policy: an issue (422, the element named) per concept without a coding the policy requires. */
export function checkCodingPolicy(resource: Json, issues: EntryIssues, policy: CodingPolicy): void {
  for (const [path, rule] of Object.entries(policy)) {
    const [type, element] = path.split('.') as [string, string];
    if (resource.resourceType !== type || resource[element] === undefined) continue;
    const value = resource[element];
    const concepts: [unknown, string][] = Array.isArray(value) ? value.map((c, n) => [c, `${element}[${n}]`]) : [[value, element]];
    for (const [concept, at] of concepts) {
      const codings = isObject(concept) && Array.isArray(concept.coding) ? concept.coding : [];
      if (codings.some((c: unknown) => isObject(c) && rule.anyOf.includes(c.system))) continue;
      issues.add(422, 'business-rule',
        `The alliance's coding policy requires ${path} to have a coding in ${rule.anyOf.map((s) => `${systemName(s)} (${s})`).join(' or ')}; add one beside the codes you send`, at);
    }
  }
}
