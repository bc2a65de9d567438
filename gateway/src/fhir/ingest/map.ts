/**
 * FHIR R4 resources → the owners' entries. Each resource is read by the
 * module of its FHIR resource type (../resources/), beside the export of the
 * same resource and with the same code systems (../terminology.ts), so what
 * `$everything` gives out can be published back and exported again
 * unchanged. This module checks what concerns the request around each
 * resource: the write scopes per resource type, the entry's request (create,
 * conditional create, update), business identifiers, and the links between
 * entries.
 *
 * Everything that can be checked without the owners' data is checked here,
 * before anything is sent anywhere: the shape of every element the product
 * stores, the codes against the systems the product knows (LOINC with its
 * check digit, ICD-10, CVX, DICOM modalities, SNOMED CT with its Verhoeff
 * digit, the HL7 v3 sensitivity labels), the write scopes per resource type,
 * and provenance. Each problem is an issue naming the element by its FHIRPath
 * (`Bundle.entry[2].resource.code.coding[0].code`).
 *
 * Provenance: the producing organisation of every record is the caller's
 * organisation (the token's `org`), never a value from the payload. An
 * element that names the producer (Encounter.serviceProvider,
 * Observation.performer, DiagnosticReport.performer, ServiceRequest.requester,
 * Immunization.performer.actor, EpisodeOfCare.managingOrganization, an MR
 * identifier's assigner or system) may be left out, or name the caller's own
 * organisation; naming another is refused (403), never silently rewritten, so
 * an integration that mixes up its organisations finds out at once
 * (../resources/elements.ts, ownOrganization). Elements that name *other*
 * organisations on purpose (the receiving organisation of a referral) are
 * kept.
 */
import { randomUUID } from 'node:crypto';
import type { BusinessIdentifier, EntryRef } from '../../../../lib/ingest/types.js';
import { isUuidText, RESOURCE_OWNERS } from '../../../../lib/ingest/types.js';
import { labelsForResource } from '../../../../lib/consent/sensitive-codes.js';
import { recordTypeOf } from '../../../../lib/records/record-types.js';
import { parseScopes, RESOURCE_CATEGORIES, scopesAllowWrite } from '../../../../lib/trust/scopes.js';
import { isObject, RESOURCE_BOOKKEEPING, text, unkeptElements } from '../resources/elements.js';
import { checkCodingPolicy, codingPolicy } from '../coding-policy.js';
import { fromFhirOf, moduleOf } from '../resources/index.js';
import { HELD_BY_RECORDS, medicationEntriesOf } from '../resources/medication.js';
import { EntryIssues, type BundleContext, type Issue, type Json, type MappedEntry } from '../resources/module.js';

export type { BundleContext, Issue, MappedEntry, PatientLink } from '../resources/module.js';

/** The request of one entry: create (POST, conditional with ifNoneExist) or update (PUT Type/id). */
export interface EntryRequest {
  method: 'POST' | 'PUT';
  /** PUT: the id from the URL. */
  id?: string;
  ifNoneExist?: string | null;
  /** FHIRPath of the request's url (for issues). */
  expression: string;
}

/** The resource types institutions publish: the catalogue's published record types (lib/records/record-types.ts). */
export const SUPPORTED_TYPES = Object.keys(RESOURCE_OWNERS);

function identifiersOf(resource: Json, issues: EntryIssues): BusinessIdentifier[] {
  if (resource.identifier === undefined) return [];
  if (!Array.isArray(resource.identifier)) return issues.add(400, 'structure', 'identifier must be a list', 'identifier') ?? [];
  const out: BusinessIdentifier[] = [];
  resource.identifier.forEach((identifier: unknown, n: number) => {
    const item = isObject(identifier) ? identifier : {};
    const system = text(item.system, issues, `identifier[${n}].system`, { required: true, max: 500 });
    const value = text(item.value, issues, `identifier[${n}].value`, { required: true, max: 200 });
    if (system && value) out.push({ system, value });
  });
  return out;
}

/** `ifNoneExist` (or If-None-Exist): `identifier=system|value`, several separated by commas (any of them). */
export function parseIfNoneExist(value: unknown, issues: EntryIssues | null, element: string): BusinessIdentifier[] | null {
  if (value === undefined || value === null || value === '') return null;
  const fail = (message: string) => {
    issues?.add(400, 'not-supported', message, element);
    return null;
  };
  if (typeof value !== 'string') return fail('ifNoneExist must be a search string');
  const query = value.startsWith('?') ? value.slice(1) : value.replace(/^[A-Za-z]+\?/, '');
  const found: BusinessIdentifier[] = [];
  for (const [name, raw] of new URLSearchParams(query)) {
    if (name !== 'identifier') return fail(`ifNoneExist supports identifier=system|value only (not ${name})`);
    for (const token of raw.split(',')) {
      const bar = token.indexOf('|');
      if (bar <= 0 || bar === token.length - 1) return fail('ifNoneExist needs identifier=system|value, with both parts');
      found.push({ system: token.slice(0, bar), value: token.slice(bar + 1) });
    }
  }
  return found.length ? found : fail('ifNoneExist names no identifier');
}

/** Resource types holding records of several categories (granular scopes): a scope refusal names the category. */
const SPANS_CATEGORIES = (resourceType: string) => Boolean(RESOURCE_CATEGORIES[resourceType]?.granular);

/**
 * Maps every entry, collecting every issue. The entries come back in request
 * order, with DiagnosticReport.result turned into each result's link to its
 * report (the labs subgraph keeps the link on the result).
 */
export function mapEntries(
  items: MapItem[],
  context: BundleContext,
  issues: Issue[],
): MappedEntry[] {
  const { mapped, held } = mapEach(items, context, issues);
  checkHeld(held, context, issues);
  return linkResults(mapped, issues);
}

/** One entry to map: its index, the FHIRPath of its resource, the resource and the entry's request. */
export interface MapItem { index: number; base: string; resource: unknown; request: EntryRequest }
/** A mapped entry before its report's results are linked (linkResults). */
export type UnlinkedEntry = MappedEntry & { results?: EntryRef[] };

/**
 * Maps each entry on its own (the first part of mapEntries): a Bundle read as a stream maps its entries in batches as
 * they arrive (route.ts), then checks the held resources and links the reports once, over all of them.
 * Returns the mapped entries, and the resources kept only with the records that reference them (a Medication), unmapped.
 */
export function mapEach(items: MapItem[], context: BundleContext, issues: Issue[]): { mapped: UnlinkedEntry[]; held: MapItem[] } {
  const scopes = parseScopes(context.actor.scope);
  const mapped: UnlinkedEntry[] = [];
  // Resources kept only with the records that reference them (a Medication): read by those records' modules, checked below.
  const held: MapItem[] = [];
  for (const item of items) {
    const entryIssues = new EntryIssues(issues, item.index, item.base);
    const before = issues.length;
    const resource = item.resource;
    if (!isObject(resource) || typeof resource.resourceType !== 'string') {
      entryIssues.add(400, 'structure', 'A FHIR resource (with resourceType) is required');
      continue;
    }
    if (HELD_BY_RECORDS.includes(resource.resourceType)) {
      held.push(item);
      continue;
    }
    const mapper = fromFhirOf(resource.resourceType);
    if (!mapper || !SUPPORTED_TYPES.includes(resource.resourceType)) {
      entryIssues.add(400, 'not-supported', `${resource.resourceType} cannot be published here (supported: ${SUPPORTED_TYPES.join(', ')})`, 'resourceType');
      continue;
    }
    const result = mapper(resource, context, entryIssues, item.index);
    // The alliance's coding policy (configuration: coding-policy.ts): what it requires beyond what the module stores.
    const policy = codingPolicy();
    if (policy instanceof Error) entryIssues.add(503, 'exception', `Publishing is unavailable: the coding policy is misconfigured (${policy.message})`);
    else if (issues.length === before) checkCodingPolicy(resource, entryIssues, policy);
    // Nothing accepted is lost: an element the module does not store is refused, named (elements.ts, unkeptElements);
    // checked once what it reads is valid, so a bad code is named as such, not also as one coding too many.
    // What this entry keeps: the mapping's own answer where one resource type holds several record types
    // (a clinical Observation, a DiagnosticReport that is a note), else the module's.
    const keeps = result.keeps ?? moduleOf(resource.resourceType)?.keeps;
    // An element refused as not kept (422 not-supported) is no invalid value: the others not kept are named with it, all at once.
    const invalid = issues.slice(before).some((issue) => issue.code !== 'not-supported');
    if (keeps && !invalid) unkeptElements(resource, { ...RESOURCE_BOOKKEEPING, ...keeps }, entryIssues);
    // The alliance's table of sensitive codes adds the labels the record's codes call for, on every way in.
    if (Array.isArray(result.record.sensitivity_labels)) result.record.sensitivity_labels = [...new Set([...result.record.sensitivity_labels, ...labelsForResource(resource)])];
    // Its owner and consent category: the catalogue's, for the record type the module read.
    const { owner, category } = recordTypeOf(result.recordType)!;
    const op = item.request.method === 'PUT' ? 'update' : 'create';
    const interaction = op === 'update' ? 'update' : 'create';
    if (!scopesAllowWrite(scopes, interaction, resource.resourceType, category)) {
      entryIssues.add(403, 'forbidden', `The token's scopes do not allow ${interaction} of ${resource.resourceType}${SPANS_CATEGORIES(resource.resourceType) ? ` (${category})` : ''}`);
    }
    if (op === 'update') {
      if (!item.request.id || !isUuidText(item.request.id)) entryIssues.add(400, 'invalid', 'An update names the record: PUT Type/{id}, a UUID', item.request.expression);
      else if (resource.id !== undefined && resource.id !== item.request.id) entryIssues.add(400, 'invalid', 'The resource id differs from the id in the URL', 'id');
    }
    const ifNoneExist = op === 'create' ? parseIfNoneExist(item.request.ifNoneExist, entryIssues, item.request.expression.replace(/\.url$/, '.ifNoneExist')) : null;
    const identifiers = identifiersOf(resource, entryIssues);
    if (issues.length > before || !result.patient) continue;
    const id = op === 'update' ? item.request.id!.toLowerCase() : randomUUID();
    mapped.push({
      index: item.index, path: item.base, resourceType: resource.resourceType, kind: result.kind, owner, op, id, category,
      ifNoneExist, identifiers, record: result.record, refs: result.refs,
      patient: result.kind === 'patient' ? { entry: item.index } : result.patient, patientExpression: `${item.base}${result.patientElement ? `.${result.patientElement}` : ''}`,
      ...(result.patientElement ? { patientElement: result.patientElement } : {}),
      ...(result.results ? { results: result.results } : {}),
      ...(result.foreignLinks?.length ? { foreignLinks: result.foreignLinks } : {}),
    });
  }
  return { mapped, held };
}

/** The held resources (a Medication): each must be taken in by a record of the Bundle that references it. Once every entry is mapped. */
export function checkHeld(held: MapItem[], context: BundleContext, issues: Issue[]): void {
  const absorbed = medicationEntriesOf(context);
  for (const item of held) {
    const entryIssues = new EntryIssues(issues, item.index, item.base);
    if (item.request.method !== 'POST') entryIssues.add(400, 'not-supported', 'A Medication is created with the record that references it (POST in the same transaction), never updated on its own', item.request.expression);
    else if (!absorbed.has(item.index)) {
      entryIssues.add(422, 'not-supported', 'A Medication is kept only with the MedicationRequest, MedicationAdministration or MedicationStatement of this transaction that references it (medicationReference); none does');
    }
  }
}

/** A report's results: each result gets the link to its report. Once, over every mapped entry of the Bundle. */
export function linkResults(mapped: UnlinkedEntry[], issues: Issue[]): MappedEntry[] {
  const byIndex = new Map(mapped.map((m) => [m.index, m]));
  for (const report of mapped) {
    for (const ref of report.results ?? []) {
      if (!('entry' in ref)) continue;
      const result = byIndex.get(ref.entry);
      if (!result) continue;
      if (result.refs.report) {
        issues.push({ index: report.index, status: 400, code: 'invalid', message: 'This Observation is already the result of another report of this Bundle', expression: `${report.path}.result` });
        continue;
      }
      result.refs = { ...result.refs, report: { entry: report.index } };
    }
    delete report.results;
  }
  return mapped;
}
