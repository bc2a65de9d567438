/**
 * A FHIR Bundle read as it arrives (issue 27: Bundles of tens of MB with
 * bounded memory). The body is never held whole, as bytes or as text: a
 * streaming JSON parser (@streamparser/json) hands over the Bundle's
 * `resourceType` and `type` and each `entry` the moment its closing brace
 * arrives, and drops the entry from its own state once handed over
 * (`keepStack: false`), so what stays in memory is what the reader keeps of it.
 *
 * Every way a body can be wrong is a BundleBodyError with the status and issue
 * it calls for: JSON that breaks off or goes wrong anywhere (400, `structure`,
 * with the byte where it did), `entry` that is not a list, a NUL in any text
 * (400: PostgreSQL cannot store one; the HTTP service checks it on every other
 * body, lib/runtime/control-characters.ts). The cap on the body's size is the
 * HTTP service's (BodyTooLarge, thrown from the stream as it is read).
 */
import { JSONParser } from '@streamparser/json';
import { findText, NUL_MESSAGE } from '../../../../lib/runtime/control-characters.js';
import type { IssueType } from '../outcome.js';

/** A body that is not a Bundle the gateway can read: answered with an OperationOutcome of this status and issue. */
export class BundleBodyError extends Error {
  constructor(readonly status: number, readonly code: IssueType, message: string, readonly expression = '') {
    super(message);
  }
}

/** What the reader hands over, in the order the body carries it. */
export type BundlePart =
  | { kind: 'field'; name: 'resourceType' | 'type'; value: unknown }
  | { kind: 'entry'; index: number; entry: unknown };

const NUL = /\u0000/;

/**
 * The Bundle's top-level `resourceType` and `type`, and its entries one by one, from `body` (chunks of UTF-8: a
 * character split between two chunks is the parser's to join). Only the paths asked for are kept by the parser; a
 * nested `type` (an entry's) is not the Bundle's.
 */
export async function* bundleParts(body: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<BundlePart> {
  const parser = new JSONParser({ paths: ['$.resourceType', '$.type', '$.entry.*'], keepStack: false });
  const ready: BundlePart[] = [];
  let ended = false;
  let entries = 0;
  let bytes = 0;
  let wrong: BundleBodyError | null = null;
  parser.onEnd = () => {
    ended = true;
  };
  parser.onValue = ({ value, key, stack }) => {
    if (wrong) return;
    if (stack.length === 1 && (key === 'resourceType' || key === 'type')) {
      ready.push({ kind: 'field', name: key, value });
      return;
    }
    if (typeof key !== 'number') {
      wrong = new BundleBodyError(400, 'structure', 'Bundle.entry must be a list', 'Bundle.entry');
      return;
    }
    // A second `entry` list would start again at 0: two lists of entries are not one Bundle.
    if (key !== entries) {
      wrong = new BundleBodyError(400, 'structure', 'The Bundle has more than one entry list', 'Bundle.entry');
      return;
    }
    const at = findText(value, NUL);
    if (at) {
      wrong = new BundleBodyError(400, 'invalid', NUL_MESSAGE, `Bundle.entry[${key}]${at === '(value)' ? '' : `.${at}`}`);
      return;
    }
    ready.push({ kind: 'entry', index: entries++, entry: value });
  };
  const notJson = (error: unknown, ending: boolean) => new BundleBodyError(400, 'structure', ending
    ? `The body ends before its JSON does (after ${bytes} bytes): it was cut short, or is not complete JSON`
    : `The body is not JSON: ${(error as Error).message} (within bytes ${bytes}) — nothing was written`);
  for await (const chunk of body) {
    if (ended) {
      // After the Bundle's closing brace only whitespace may follow.
      if (/\S/.test(chunk.toString('utf8'))) throw new BundleBodyError(400, 'structure', 'The body goes on after the Bundle\'s JSON ends');
      continue;
    }
    bytes += chunk.length;
    try {
      parser.write(chunk);
    } catch (error) {
      if (ended) throw new BundleBodyError(400, 'structure', 'The body goes on after the Bundle\'s JSON ends');
      throw notJson(error, false);
    }
    if (wrong) throw wrong;
    // Handed over now, so the caller works on them while the next chunk arrives (or waits: back-pressure).
    while (ready.length) yield ready.shift()!;
  }
  if (!ended) {
    try {
      parser.end();
    } catch (error) {
      throw notJson(error, true);
    }
  }
  if (wrong) throw wrong;
  while (ready.length) yield ready.shift()!;
}
