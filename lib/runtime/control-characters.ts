/**
 * Control characters a client may not send (docs/hardening.md).
 *
 * PostgreSQL cannot store NUL (U+0000) in text or jsonb: a NUL in a query
 * parameter fails the statement with a DatabaseError, a server error for
 * what is the client's mistake. So a NUL is refused wherever a request can
 * carry one, once at the edge (lib/runtime/http.ts: URL, body; the GraphQL plugin
 * below: arguments and variables) and again in lib/runtime/db.ts, before any
 * statement runs, in case a value was built past the edge.
 *
 * GraphQL arguments (identifiers, search terms, codes, cursors, free text)
 * also refuse the other C0 controls: no identifier, code or text of the
 * record model holds one; tab, line feed and carriage return stay allowed
 * (free text). FHIR and HL7 v2 bodies keep theirs (HL7 v2 separates segments
 * with carriage returns; a sender may frame with MLLP's VT/FS): only NUL is
 * refused there.
 */
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Kind, visit, type DocumentNode } from 'graphql';
import { badInput } from './errors.js';

/** C0 controls except tab, line feed and carriage return. */
export const DISALLOWED_CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;

/** NUL, or JSON's escape of it (`\u0000` after an even number of backslashes, i.e. not itself escaped). */
const NUL_OR_JSON_ESCAPE = /\u0000|(?<!\\)(?:\\\\)*\\u0000/;

export const NUL_MESSAGE = 'Text may not contain NUL (U+0000)';
export const CONTROL_MESSAGE = 'Text may not contain control characters (U+0000 to U+001F other than tab, line feed and carriage return)';

/**
 * Where in `value` (a decoded JSON value) a string matches `pattern`: a path
 * like `variables.filter.code`, or undefined. Deep values stop at 64 levels
 * (a value that deep is refused elsewhere: body size, query depth). The path
 * is built only for a match: this runs over every statement's parameters
 * (db.ts) and every ingested entry, nearly always finding nothing.
 */
export function findText(value: unknown, pattern: RegExp, path = '', depth = 0): string | undefined {
  const test = pattern === NUL_OR_JSON_ESCAPE ? holdsNul : (text: string) => pattern.test(text);
  const steps = locateText(value, test, depth);
  if (!steps) return undefined;
  let here = path;
  for (const step of steps) here = typeof step === 'number' ? `${here}[${step}]` : here ? `${here}.${step}` : step;
  return here || '(value)';
}

/** The steps (array indexes, object keys) to the first string `test` accepts, or undefined. */
function locateText(value: unknown, test: (text: string) => boolean, depth: number): Array<string | number> | undefined {
  if (typeof value === 'string') return test(value) ? [] : undefined;
  if (value === null || typeof value !== 'object' || depth > 64) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = locateText(value[i], test, depth + 1);
      if (found) return [i, ...found];
    }
    return undefined;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (test(key)) return [key];
    const found = locateText((value as Record<string, unknown>)[key], test, depth + 1);
    if (found) return [key, ...found];
  }
  return undefined;
}

/**
 * Whether a string holds NUL, raw or JSON-escaped (NUL_OR_JSON_ESCAPE): two
 * substring searches first, since almost no string holds either, and the
 * pattern (a lookbehind, several times slower) only when a `\u0000` is there
 * to judge.
 */
function holdsNul(text: string): boolean {
  return text.includes('\u0000') || (text.includes('\\u0000') && NUL_OR_JSON_ESCAPE.test(text));
}

/**
 * Whether a request carries a NUL anywhere PostgreSQL could be handed it: the
 * URL (percent-encoded `%00`, in the path or the query), or the body (raw,
 * JSON-escaped, or form-encoded `%00`). Cheap: regular expressions over the
 * raw text, no parsing.
 */
export function requestCarriesNul(rawUrl: string, body: string): boolean {
  return /%00/.test(rawUrl) || rawUrl.includes('\u0000') || NUL_OR_JSON_ESCAPE.test(body) || /%00/.test(body);
}

/** Whether a string literal of a GraphQL document holds a disallowed control character. */
function literalWithControl(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    [Kind.STRING](node) {
      if (DISALLOWED_CONTROL.test(node.value)) found = true;
    },
  });
  return found;
}

/**
 * Refuses a GraphQL request whose arguments (inline literals or variables)
 * hold a disallowed control character: BAD_USER_INPUT (400), before any
 * resolver or subgraph runs.
 */
export const controlCharacterGuard: ApolloServerPlugin<BaseContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ document, request }) {
        const variable = findText(request.variables, DISALLOWED_CONTROL);
        if (variable) throw badInput(CONTROL_MESSAGE, { argument: `$${variable}` });
        if (literalWithControl(document)) throw badInput(CONTROL_MESSAGE);
      },
    };
  },
};

/**
 * lib/runtime/db.ts's check of a statement's parameters: a NUL (raw, or JSON-escaped
 * in a jsonb parameter) is the client's mistake, refused before PostgreSQL
 * sees it.
 */
export function refuseNulParameters(params: unknown[]): void {
  for (const param of params) {
    if (typeof param === 'string' ? holdsNul(param) : param !== null && typeof param === 'object' && !(param instanceof Date) && !ArrayBuffer.isView(param) && findText(param, NUL_OR_JSON_ESCAPE)) {
      throw badInput(NUL_MESSAGE);
    }
  }
}
