/**
 * SMART App Launch scopes (v2, with v1 `.read`/`.write` accepted) and the map
 * from FHIR resource types to the data categories of the consent policy.
 *
 *   patient/Observation.rs                      v2: read + search, patient in context
 *   user/*.cruds                                v2: everything the user may do
 *   patient/Observation.rs?category=vital-signs v2 granular: only that category
 *   patient/Immunization.read                   v1: read
 *   schema:read                                 product scope: introspection and SDL download
 */

import { CATEGORIES, type Category } from '../consent/categories.js';
import { resourceCategories } from '../records/record-types.js';

export { CATEGORIES, categoryFromEnum, categoryToEnum, type Category } from '../consent/categories.js';

/**
 * Which categories a FHIR resource type (optionally narrowed by a granular
 * `category` search parameter) stands for, from the catalogue of record
 * types. Granular categories follow FHIR's own code systems:
 * observation-category (`laboratory`, `vital-signs`) and v2-0074 diagnostic
 * service sections (`LAB`, `RAD`, `EC`, `PAT`).
 */
export const RESOURCE_CATEGORIES: Record<string, { all: Category[]; granular?: Record<string, Category[]> }> = resourceCategories();

export interface Scope {
  context: 'patient' | 'user' | 'system';
  resourceType: string;
  categories: Category[];
  read: boolean;
  /** Any of create, update, delete (v2 `c`, `u`, `d`; v1 `.write`). */
  write: boolean;
  /** v2 `c` (v1 `.write`, `.*`): create resources (FHIR create, conditional create). */
  create: boolean;
  /** v2 `u` (v1 `.write`, `.*`): update resources. */
  update: boolean;
}

export interface ParsedScopes {
  clinical: Scope[];
  /** `schema:read`: introspection and SDL download. */
  schemaRead: boolean;
}

export class ScopeError extends Error {}

const CLINICAL_SCOPE = /^(patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$/;
const V2_PERMISSIONS = /^c?r?u?d?s?$/;

/** Parses a space-separated scope string; unknown non-clinical scopes (openid, launch, …) are ignored. */
export function parseScopes(scope: string | undefined): ParsedScopes {
  const parsed: ParsedScopes = { clinical: [], schemaRead: false };
  for (const token of (scope ?? '').split(/\s+/).filter(Boolean)) {
    if (token === 'schema:read') {
      parsed.schemaRead = true;
      continue;
    }
    const match = CLINICAL_SCOPE.exec(token);
    if (!match) continue;
    const [, context, resourceType, permissions, query] = match as unknown as [string, Scope['context'], string, string, string | undefined];
    let read: boolean;
    let write: boolean;
    let create: boolean;
    let update: boolean;
    if (permissions === 'read' || permissions === 'write' || permissions === '*') {
      read = permissions !== 'write';
      write = create = update = permissions !== 'read';
    } else if (V2_PERMISSIONS.test(permissions)) {
      read = permissions.includes('r') || permissions.includes('s');
      write = /[cud]/.test(permissions);
      create = permissions.includes('c');
      update = permissions.includes('u');
    } else {
      throw new ScopeError(`malformed scope ${token}`);
    }
    const categories = scopeCategories(resourceType, query);
    if (!categories) throw new ScopeError(`unknown resource type in scope ${token}`);
    parsed.clinical.push({ context, resourceType, categories, read, write, create, update });
  }
  return parsed;
}

function scopeCategories(resourceType: string, query: string | undefined): Category[] | null {
  if (resourceType === '*') return [...CATEGORIES];
  const entry = RESOURCE_CATEGORIES[resourceType];
  if (!entry) return null;
  if (!query) return entry.all;
  const params = new URLSearchParams(query.slice(1));
  const category = params.get('category');
  if (!category) return entry.all;
  // `system|code` or bare `code`
  const code = category.includes('|') ? category.split('|')[1]! : category;
  return entry.granular?.[code] ?? [];
}

/**
 * Whether the scopes allow `access` to `category`; with `resourceType`, only
 * through a scope for that FHIR resource type (or `*`): `patient/Observation.rs`
 * reaches lab results but not the lab reports (DiagnosticReport) of the same
 * category.
 */
export function scopesAllow(scopes: ParsedScopes, category: Category, access: 'read' | 'write', resourceType?: string): boolean {
  return scopes.clinical.some((s) => (access === 'read' ? s.read : s.write) && s.categories.includes(category)
    && (!resourceType || s.resourceType === '*' || s.resourceType === resourceType));
}

/**
 * Whether the scopes allow creating (`c`) or updating (`u`) a resource of
 * `resourceType` whose records are of `category`: the scope must name that
 * resource type (or `*`) and cover the category (granular scopes such as
 * `system/Observation.c?category=laboratory` narrow it).
 */
export function scopesAllowWrite(scopes: ParsedScopes, interaction: 'create' | 'update', resourceType: string, category: Category): boolean {
  return scopes.clinical.some((s) => s[interaction] && s.categories.includes(category) && (s.resourceType === '*' || s.resourceType === resourceType));
}

/** Categories of a FHIR resource type, for the FHIR export and scope checks. */
export function categoriesOf(resourceType: string): Category[] {
  return RESOURCE_CATEGORIES[resourceType]?.all ?? [];
}

/** Every category the clinical scopes of a scope string name (read or write): what a patient's approval of them covers. */
export function categoriesOfScopes(scope: string): Category[] {
  const categories = new Set<Category>();
  for (const s of parseScopes(scope).clinical) s.categories.forEach((c) => categories.add(c));
  return CATEGORIES.filter((c) => categories.has(c));
}

/** A clinical scope's parts, permissions in v2 letters (`cruds` order; v1 `.read` is `rs`, `.write` `cud`, `.*` all). */
interface ScopeParts {
  context: string;
  resourceType: string;
  permissions: string;
  /** The granular query (`?category=...`), or '' for none. */
  query: string;
}

const PERMISSION_ORDER = 'cruds';

function scopeParts(token: string): ScopeParts | null {
  const match = CLINICAL_SCOPE.exec(token);
  if (!match) return null;
  const [, context, resourceType, permissions, query] = match as unknown as [string, string, string, string, string | undefined];
  const v2 = permissions === 'read' ? 'rs' : permissions === 'write' ? 'cud' : permissions === '*' ? 'cruds' : permissions;
  if (!V2_PERMISSIONS.test(v2) || !v2) return null;
  return { context, resourceType, permissions: v2, query: query ?? '' };
}

const granularKey = (query: string) => {
  const category = new URLSearchParams(query.slice(1)).get('category');
  return category?.includes('|') ? category.split('|')[1]! : category ?? query;
};

/** The intersection of two clinical scopes, as a v2 scope, or null when they share nothing. */
function intersect(a: ScopeParts, b: ScopeParts): string | null {
  if (a.context !== b.context) return null;
  if (a.resourceType !== '*' && b.resourceType !== '*' && a.resourceType !== b.resourceType) return null;
  const resourceType = a.resourceType === '*' ? b.resourceType : a.resourceType;
  const permissions = [...PERMISSION_ORDER].filter((p) => a.permissions.includes(p) && b.permissions.includes(p)).join('');
  if (!permissions) return null;
  if (a.query && b.query && granularKey(a.query) !== granularKey(b.query)) return null;
  const query = a.query || b.query;
  // A granular query narrows one resource type; on `*` it would mean nothing.
  if (query && resourceType === '*') return null;
  return `${a.context}/${resourceType}.${permissions}${query}`;
}

/**
 * What an app asking for `requested` may be given when it was registered for
 * `allowed`: each requested clinical scope is cut down to the part the
 * registration covers (`patient/*.rs` against a registration for
 * `patient/Observation.rs` gives `patient/Observation.rs`), never widened; a
 * requested scope within an allowed one is kept as written. Non-clinical
 * scopes (openid, launch/patient…) are the caller's to check and are left
 * out. An app gets less than it asked for, never more.
 */
export function narrowScopes(requested: string[], allowed: string[]): string[] {
  const allowedParts = allowed.map(scopeParts).filter((p): p is ScopeParts => p !== null);
  const out = new Set<string>();
  for (const token of requested) {
    const asked = scopeParts(token);
    if (!asked) continue;
    const pieces = allowedParts.map((a) => intersect(asked, a)).filter((s): s is string => s !== null);
    const canonical = intersect(asked, asked);
    // Wholly covered: keep the app's own spelling (v1 scopes stay v1).
    if (canonical && pieces.includes(canonical)) out.add(token);
    else pieces.forEach((piece) => out.add(piece));
  }
  return [...out];
}

/** Whether a token is a clinical scope this server understands (`patient/`, `user/`, `system/`, known resource type, valid permissions). */
export function isClinicalScope(token: string): boolean {
  const parts = scopeParts(token);
  return parts !== null && (parts.resourceType === '*' || parts.resourceType in RESOURCE_CATEGORIES);
}

/**
 * The category codes a token's granular read scopes restrict a resource type to (`Observation.rs?category=vital-signs`
 * → {vital-signs}); null when some read scope reaches the type unrestricted (or names no category); empty when no read
 * scope reaches it at all. A code may be given with its system (`system|code`): the code is kept.
 */
export function granularCodes(scope: string, resourceType: string): Set<string> | null {
  const codes = new Set<string>();
  for (const token of (scope ?? '').split(/\s+/)) {
    const m = /^(?:patient|user|system)\/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$/.exec(token);
    if (!m || (m[1] !== '*' && m[1] !== resourceType)) continue;
    const permissions = m[2]!;
    if (!(permissions === 'read' || permissions === '*' || /r|s/.test(permissions))) continue;
    const category = m[3] ? new URLSearchParams(m[3].slice(1)).get('category') : null;
    if (!category) return null;
    codes.add(category.includes('|') ? category.split('|')[1]! : category);
  }
  return codes;
}

/**
 * The category codes as a list (granularCodes), null where they do not restrict: unrestricted, or no read scope reaches
 * the type (the consent policy refuses that case on its own). Where one consent category holds records of several
 * codes (clinical observations: vital-signs and social-history), the owner narrows its records to these codes too.
 */
export function granularReadCodes(scope: string, resourceType: string): string[] | null {
  const codes = granularCodes(scope, resourceType);
  return codes?.size ? [...codes] : null;
}
