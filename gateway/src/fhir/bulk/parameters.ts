/**
 * Kick-off parameters of a Bulk Data export (FHIR Bulk Data Access IG v2):
 * `_type`, `_since`, `_outputFormat`, `_typeFilter`, and `patient` (POST).
 *
 * The resource types are those the export builds — Patient and every type
 * the record catalogue (lib/records/record-types.ts) exchanges through a
 * Patient connection, plus Organization and Practitioner (registry entries,
 * for wildcard scopes) — so a record type added to the catalogue is exported
 * without a change here. `_typeFilter` takes exactly the search parameters
 * FHIR search supports for the type (search/parameters.ts), parsed by the
 * search's own parser, so a query the REST API refuses is refused here (400).
 */
import { isUuid } from '../../../../lib/records/connection.js';
import { FhirError } from '../outcome.js';
import { parseSearch, sourcesOf } from '../search/engine.js';
import { parseCriterion, type Criterion } from '../search/match.js';
import { LAST_UPDATED_PARAMETER, RESULT_PARAMETERS, SEARCH_PARAMETERS, SEARCHABLE_TYPES } from '../search/parameters.js';
import type { TypeFilter } from './store.js';

/** Registry resources: in an export when the scopes are wildcards (plan.ts). */
export const REGISTRY_TYPES = ['Organization', 'Practitioner'] as const;

/** Every resource type an export can hold, from the catalogue. */
export function exportTypes(): string[] {
  return [...SEARCHABLE_TYPES.filter((type) => type === 'Patient' || sourcesOf(type).length > 0), ...REGISTRY_TYPES];
}

export const OUTPUT_FORMATS = ['application/fhir+ndjson', 'application/ndjson', 'ndjson'];

export interface KickoffParameters {
  types: string[];
  since: Date | null;
  typeFilters: TypeFilter[];
  patients: string[] | null;
}

const invalid = (message: string) => new FhirError(400, 'invalid', message);
const notSupported = (message: string) => new FhirError(400, 'not-supported', message);

/** A _typeFilter's criteria, parsed as FHIR search parses them (400 for what search refuses). */
export function typeFilterCriteria(filter: TypeFilter): Criterion[] {
  const pairs = [...new URLSearchParams(filter.query).entries()];
  for (const [name] of pairs) {
    if ((RESULT_PARAMETERS as readonly string[]).includes(name)) throw notSupported(`_typeFilter: ${name} is a result parameter, not a criterion`);
    if (name.split(':')[0] === 'patient') throw notSupported('_typeFilter: the patient criterion is not supported; use the patient parameter of a POST kick-off');
  }
  return parseSearch(filter.type, pairs, false).criteria;
}

/**
 * `_since` (Bulk Data IG: resources whose state changed after it): the `_lastUpdated=gt<since>` criterion of FHIR
 * search, on meta.lastUpdated. The records are already read with `updatedSince` (worker.ts, the plan); this keeps
 * out what their records bring along (the Patient resource when the patient's record did not change). Null for the
 * registry types, which carry no last-updated time (included with the records that name them).
 */
export function sinceCriterion(type: string, since: Date): Criterion | null {
  const definition = SEARCH_PARAMETERS[type]?.find((d) => d.name === LAST_UPDATED_PARAMETER);
  return definition ? parseCriterion(definition, `gt${since.toISOString()}`, type) : null;
}

/**
 * Reads the kick-off parameters. `pairs`: the query string (GET) or the
 * Parameters resource's entries (POST). Unknown parameters are a 400 unless
 * `lenient` (Prefer: handling=lenient), which ignores them.
 */
export function parseKickoff(pairs: [string, string][], options: { lenient: boolean; post: boolean; level: 'system' | 'patient' | 'group' }): KickoffParameters {
  const all = exportTypes();
  const result: KickoffParameters = { types: all.filter((t) => t !== 'Consent'), since: null, typeFilters: [], patients: null };
  let typesGiven: string[] | null = null;
  for (const [name, value] of pairs) {
    switch (name) {
      case '_outputFormat':
        if (!OUTPUT_FORMATS.includes(value)) throw notSupported(`_outputFormat ${value} is not supported (${OUTPUT_FORMATS.join(', ')} are)`);
        break;
      case '_type':
        for (const type of value.split(',').map((t) => t.trim()).filter(Boolean)) {
          if (!all.includes(type)) throw notSupported(`_type ${type} is not exported here (exported: ${all.join(', ')})`);
          (typesGiven ??= []).push(type);
        }
        break;
      case '_since': {
        if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(Date.parse(value))) {
          throw invalid('_since must be a FHIR instant with a time zone, e.g. 2024-01-01T00:00:00Z');
        }
        result.since = new Date(value);
        break;
      }
      case '_typeFilter': {
        const at = value.indexOf('?');
        const type = at < 0 ? value : value.slice(0, at);
        if (!all.includes(type) || !SEARCH_PARAMETERS[type]) throw notSupported(`_typeFilter: ${type} cannot be filtered (types with search parameters: ${all.filter((t) => SEARCH_PARAMETERS[t]).join(', ')})`);
        const filter = { type, query: at < 0 ? '' : value.slice(at + 1) };
        typeFilterCriteria(filter);
        result.typeFilters.push(filter);
        break;
      }
      case 'patient': {
        if (!options.post) throw invalid('patient is a parameter of POST kick-offs (a Parameters resource)');
        if (options.level === 'system') throw notSupported('patient applies to Patient and Group exports');
        const id = value.replace(/^.*Patient\//, '');
        if (!isUuid(id)) throw invalid(`patient: ${value} is not a reference to a Patient (Patient/<uuid>)`);
        (result.patients ??= []).push(id);
        break;
      }
      default:
        if (!options.lenient) throw invalid(`Unknown or unsupported parameter ${name}; send Prefer: handling=lenient to have it ignored`);
    }
  }
  if (typesGiven) result.types = [...new Set(typesGiven)];
  for (const filter of result.typeFilters) {
    if (!result.types.includes(filter.type)) throw invalid(`_typeFilter names ${filter.type}, which _type leaves out`);
  }
  if (result.patients) result.patients = [...new Set(result.patients)];
  return result;
}

/** A POST body: a FHIR Parameters resource → name/value pairs. */
export function parametersResource(body: string): [string, string][] {
  let resource: unknown;
  try {
    resource = body.trim() ? JSON.parse(body) : { resourceType: 'Parameters' };
  } catch {
    throw invalid('The body must be a FHIR Parameters resource (JSON)');
  }
  const r = resource as { resourceType?: unknown; parameter?: unknown };
  if (r?.resourceType !== 'Parameters') throw invalid('The body must be a FHIR Parameters resource');
  if (r.parameter !== undefined && !Array.isArray(r.parameter)) throw invalid('Parameters.parameter must be a list');
  const pairs: [string, string][] = [];
  for (const p of (r.parameter ?? []) as Record<string, unknown>[]) {
    const name = p?.name;
    if (typeof name !== 'string') throw invalid('Every parameter needs a name');
    const value = p.valueString ?? p.valueInstant ?? p.valueCode ?? p.valueUri ?? p.valueDateTime ?? (p.valueReference as { reference?: unknown } | undefined)?.reference;
    if (typeof value !== 'string') throw invalid(`Parameter ${name}: a string, instant, code or reference value is expected`);
    pairs.push([name, value]);
  }
  return pairs;
}
