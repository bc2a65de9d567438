/**
 * Matching FHIR search parameters against resources, by parameter type
 * (FHIR R4 §3.1.1.4 "Search parameter types"):
 *
 * - token: `system|code`, `|code` (no system), `code` (any system),
 *   `system|` (any code of the system), against codes, Codings,
 *   CodeableConcepts and Identifiers;
 * - date: `eq` (default), `gt`, `ge`, `lt`, `le` with the value's precision
 *   (a day means the whole day), against dates, instants and Periods; the
 *   comparisons are those of FHIR on ranges (a Period without an end runs on);
 * - string: case- and accent-insensitive "starts with" on any of the
 *   element's strings;
 * - reference: `123`, `Patient/123` or an absolute URL ending so.
 *
 * Comma-separated values are alternatives (OR); repeated parameters must
 * all hold (AND). Values are checked when the request is parsed
 * (parseDate, parseToken): a malformed one is a 400, never a silent miss.
 */
import type { SearchParam } from './parameters.js';
import { FhirError } from '../outcome.js';

export type DatePrefix = 'eq' | 'gt' | 'ge' | 'lt' | 'le';

/** A date value as a half-open range of epoch milliseconds, [low, high). */
export interface DateValue { prefix: DatePrefix; low: number; high: number }

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** A search date (`ge2024-01-01`, `lt2024-03-05T10:00:00Z`) → its prefix and range. */
export function parseDate(name: string, raw: string): DateValue {
  const prefixMatch = /^(eq|ne|gt|ge|lt|le|sa|eb|ap)?(.*)$/.exec(raw)!;
  const prefix = (prefixMatch[1] ?? 'eq') as string;
  if (!['eq', 'gt', 'ge', 'lt', 'le'].includes(prefix)) throw invalid(`${name}: the prefix ${prefix} is not supported (eq, gt, ge, lt, le are)`);
  const m = DATE.exec(prefixMatch[2]!);
  if (!m) throw invalid(`${name}: ${prefixMatch[2]} is not a FHIR date or dateTime`);
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  if (h !== undefined && !zone) throw invalid(`${name}: a time needs a time zone (Z or ±hh:mm)`);
  const year = Number(y);
  let low: number;
  let high: number;
  if (mo === undefined) {
    low = Date.UTC(year, 0, 1);
    high = Date.UTC(year + 1, 0, 1);
  } else if (d === undefined) {
    low = Date.UTC(year, Number(mo) - 1, 1);
    high = Date.UTC(year, Number(mo), 1);
  } else if (h === undefined) {
    low = Date.UTC(year, Number(mo) - 1, Number(d));
    high = Date.UTC(year, Number(mo) - 1, Number(d) + 1);
  } else {
    const text = `${y}-${mo}-${d}T${h}:${mi}:${s ?? '00'}${frac ?? ''}${zone}`;
    low = Date.parse(text);
    // Precision: to the minute, the second, or the millisecond given.
    high = low + (s === undefined ? 60_000 : frac ? 1 : 1000);
  }
  if (!Number.isFinite(low) || !Number.isFinite(high)) throw invalid(`${name}: ${prefixMatch[2]} is not a valid date`);
  return { prefix: prefix as DatePrefix, low, high };
}

/** A resource's date element as a range: a date is its day, an instant its millisecond, a Period its span. */
function rangeOf(value: unknown): [number, number] | null {
  if (typeof value === 'string') {
    try {
      const parsed = parseDate('', value.length > 10 && !/[Zz+-]\d{0,2}:?\d{0,2}$/.test(value.slice(10)) ? `${value}Z` : value);
      return [parsed.low, parsed.high];
    } catch {
      return null;
    }
  }
  if (value && typeof value === 'object' && ('start' in value || 'end' in value)) {
    const { start, end } = value as { start?: string; end?: string };
    const low = start ? rangeOf(start)?.[0] ?? -Infinity : -Infinity;
    const high = end ? rangeOf(end)?.[1] ?? Infinity : Infinity;
    return [low, high];
  }
  return null;
}

/** FHIR's comparisons of the resource's range with the parameter's. */
export function dateMatches(value: unknown, q: DateValue): boolean {
  const range = rangeOf(value);
  if (!range) return false;
  const [low, high] = range;
  switch (q.prefix) {
    case 'eq': return low >= q.low && high <= q.high;
    case 'gt': return high > q.high;
    case 'ge': return high > q.low;
    case 'lt': return low < q.low;
    case 'le': return low < q.high;
  }
}

export interface TokenValue { system?: string; code?: string }

/** `system|code`, `|code`, `code`, `system|`. */
export function parseToken(name: string, raw: string): TokenValue {
  if (!raw) throw invalid(`${name}: empty value`);
  const bar = raw.indexOf('|');
  if (bar < 0) return { code: raw };
  const system = raw.slice(0, bar);
  const code = raw.slice(bar + 1);
  if (!system && !code) throw invalid(`${name}: empty value`);
  return { system, ...(code ? { code } : {}) };
}

/** The codes an element holds, as (system, code) pairs. */
function codesOf(value: unknown): { system?: string; code?: string }[] {
  if (typeof value === 'string' || typeof value === 'boolean') return [{ code: String(value) }];
  if (!value || typeof value !== 'object') return [];
  const v = value as Record<string, unknown>;
  if (Array.isArray(v.coding)) return (v.coding as unknown[]).flatMap(codesOf);
  if ('code' in v) return [{ system: v.system as string | undefined, code: String(v.code) }];
  if ('value' in v) return [{ system: v.system as string | undefined, code: String(v.value) }];
  return [];
}

export function tokenMatches(value: unknown, q: TokenValue): boolean {
  return codesOf(value).some((c) => {
    if (q.system !== undefined) {
      // `|code`: a code without a system.
      if (q.system === '' ? c.system !== undefined : c.system !== q.system) return false;
    }
    return q.code === undefined || c.code === q.code;
  });
}

const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

export function stringMatches(value: unknown, q: string): boolean {
  return typeof value === 'string' && fold(value).startsWith(fold(q));
}

/** `123`, `Patient/123` or `https://…/Patient/123` → `123`; null when it names another type. */
export function referenceId(raw: string, resourceType: string): string | null {
  const parts = raw.split('/');
  if (parts.length === 1) return raw;
  const id = parts[parts.length - 1]!;
  return parts[parts.length - 2] === resourceType && id ? id : null;
}

/** The values at a dot path, arrays flattened. */
export function valuesAt(resource: unknown, path: string): unknown[] {
  let current: unknown[] = [resource];
  for (const key of path.split('.')) {
    current = current.flatMap((v) => (v && typeof v === 'object' ? [(v as Record<string, unknown>)[key]] : [])).flatMap((v) => (Array.isArray(v) ? v : [v]))
      .filter((v) => v !== undefined && v !== null);
  }
  return current;
}

/** A parsed criterion: one parameter occurrence, its alternatives. */
export type Criterion =
  | { param: SearchParam; type: 'token'; values: TokenValue[] }
  | { param: SearchParam; type: 'date'; values: DateValue[] }
  | { param: SearchParam; type: 'string'; values: string[] }
  | { param: SearchParam; type: 'reference'; values: string[] };

export function parseCriterion(param: SearchParam, raw: string, resourceType: string): Criterion {
  const alternatives = raw.split(',');
  switch (param.type) {
    case 'token': return { param, type: 'token', values: alternatives.map((v) => parseToken(param.name, v)) };
    case 'date': return { param, type: 'date', values: alternatives.map((v) => parseDate(param.name, v)) };
    case 'string': {
      if (alternatives.some((v) => !v.trim())) throw invalid(`${param.name}: empty value`);
      return { param, type: 'string', values: alternatives };
    }
    case 'reference': {
      const target = param.name === 'patient' ? 'Patient' : resourceType;
      return { param, type: 'reference', values: alternatives.map((v) => referenceId(v, target) ?? '\u0000') };
    }
  }
}

/** Whether a resource meets one criterion (any of its alternatives, on any of its paths). */
export function meets(resource: unknown, criterion: Criterion): boolean {
  const found = criterion.param.paths.flatMap((path) => valuesAt(resource, path));
  switch (criterion.type) {
    case 'token': return criterion.values.some((q) => found.some((v) => tokenMatches(v, q)));
    case 'date': return criterion.values.some((q) => found.some((v) => dateMatches(v, q)));
    case 'string': return criterion.values.some((q) => found.some((v) => stringMatches(v, q)));
    case 'reference': return criterion.values.some((id) => found.some((v) => {
      const ref = (v as { reference?: unknown })?.reference;
      return typeof ref === 'string' && ref.split('/').pop() === id;
    }));
  }
}

function invalid(message: string): FhirError {
  return new FhirError(400, 'invalid', message);
}
