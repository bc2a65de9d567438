/**
 * GraphQL errors the consent model produces, attached to what they are about.
 *
 * The API leaves a withheld field `null` with an error at its path whose
 * `extensions.code` is CONSENT_DENIED (the patient's consent) or FORBIDDEN
 * (the caller's role or scopes), and a reason. The client keeps each error
 * with the list entry it belongs to, so the reason is rendered in place.
 */
import type { CombinedError } from 'urql';

export type Path = readonly (string | number)[];

export interface FieldError {
  /** Path relative to what it is attached to (an entry, or the query root). */
  path: Path;
  message: string;
  code: string | undefined;
}

export function fieldErrors(error: CombinedError | undefined): FieldError[] {
  return (error?.graphQLErrors ?? []).map((e) => ({ path: e.path ?? [], message: e.message, code: e.extensions?.code as string | undefined }));
}

const startsWith = (path: Path, prefix: Path) => prefix.every((part, i) => path[i] === part);

/** The error exactly at `path`, if any. */
export const errorAt = (errors: FieldError[], path: Path) => errors.find((e) => e.path.length === path.length && startsWith(e.path, path));

/** The first error at or under `path`. */
export const errorUnder = (errors: FieldError[], path: Path) => errors.find((e) => startsWith(e.path, path));

/** Errors with no path, or about the whole query: shown as a banner. */
export const topLevelErrors = (errors: FieldError[], depth = 1) => errors.filter((e) => e.path.length <= depth);

/**
 * Splits a page's errors by edge: `[...connectionPath, 'edges', i, ...rest]`
 * becomes `rest` on edge i.
 */
export function errorsByEdge(errors: FieldError[], connectionPath: Path, count: number): FieldError[][] {
  const perEdge: FieldError[][] = Array.from({ length: count }, () => []);
  const prefix = [...connectionPath, 'edges'];
  for (const error of errors) {
    if (!startsWith(error.path, prefix) || typeof error.path[prefix.length] !== 'number') continue;
    perEdge[error.path[prefix.length] as number]?.push({ ...error, path: error.path.slice(prefix.length + 1) });
  }
  return perEdge;
}

export const WITHHELD_CODES = new Set(['CONSENT_DENIED', 'FORBIDDEN']);

export function describeCode(code: string | undefined): string {
  switch (code) {
    case 'CONSENT_DENIED': return "Withheld by the patient's consent";
    case 'FORBIDDEN': return 'Not available to your role or token';
    case 'UNAUTHENTICATED': return 'Sign in again';
    case 'AUDIT_UNAVAILABLE': return 'The audit trail is unavailable, so no data is shown';
    default: return 'Error';
  }
}
