/**
 * How much one publishing request may carry (issue 27): a patient's record
 * with a few years of history is 1–5 MB of FHIR JSON, a long one tens of MB.
 *
 * - FHIR_MAX_BUNDLE_BYTES: the largest body of a FHIR write or HL7 v2 batch
 *   the gateway reads (default 50 MiB). A larger one is answered 413 with an
 *   OperationOutcome as soon as the size is known: from Content-Length before
 *   a byte of the body is read, or, for a chunked upload, the moment the
 *   count passes the limit — the rest is discarded unread, never buffered.
 * - FHIR_MAX_BUNDLE_ENTRIES: the most entries in one Bundle (default 20 000).
 *
 * - The memory the gateway has free: a body read whole (a single resource) is
 *   held while it is checked, up to GATEWAY_HEAP_PER_BYTE times its size in
 *   heap at peak; a Bundle (POST /fhir) is read as a stream and needs
 *   STREAMED_HEAP_PER_BYTE (measured by scripts/bench-bundle-memory.ts), so a body larger than
 *   the heap left divided by that is answered 413 the same way, before it is
 *   read, rather than the process running out of memory mid-request (with the
 *   images' 128 MB heap, a 40 MB Bundle crashed the gateway). Raise
 *   NODE_OPTIONS=--max-old-space-size where Bundles of tens of MB are sent.
 *
 * The owners' internal publishing calls carry the same records, so they
 * accept what the gateway accepts (`ownerIngestMaxBytes`), while every other
 * request to a subgraph keeps its 1 MB cap, and GraphQL at the gateway its
 * 100 kB one.
 */
import { getHeapStatistics } from 'node:v8';

export const DEFAULT_MAX_BUNDLE_BYTES = 50 * 1024 * 1024;
export const DEFAULT_MAX_BUNDLE_ENTRIES = 20_000;

function positiveInteger(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive whole number (got ${JSON.stringify(raw)})`);
  return value;
}

/** The largest publishing body the gateway reads (FHIR_MAX_BUNDLE_BYTES). */
export const maxBundleBytes = (env: NodeJS.ProcessEnv = process.env) => positiveInteger('FHIR_MAX_BUNDLE_BYTES', DEFAULT_MAX_BUNDLE_BYTES, env);
/** The most entries of one Bundle (FHIR_MAX_BUNDLE_ENTRIES). */
export const maxBundleEntries = (env: NodeJS.ProcessEnv = process.env) => positiveInteger('FHIR_MAX_BUNDLE_ENTRIES', DEFAULT_MAX_BUNDLE_ENTRIES, env);
/** What an owner's internal publishing calls may carry: a Bundle's records for it, with the protocol's own fields (twice the Bundle's cap). */
export const ownerIngestMaxBytes = (env: NodeJS.ProcessEnv = process.env) => 2 * maxBundleBytes(env);
/** The internal publishing paths of an owner (lib/runtime/internal-api.ts: /internal/ingest/…). */
export const isOwnerIngestPath = (pathname: string) => pathname.startsWith('/internal/ingest/');

/**
 * Heap the gateway needs per byte of a publishing body at peak: the raw body, its text, the parsed Bundle, the
 * mapped entries and the owners' requests (a 40 MB Bundle of 39,120 entries grew the gateway's resident memory by
 * about 410 MB: scripts/bench-bundle-memory.ts), with the heap's own spikes (the owners' request text flattened):
 * with a 128 MB heap, a 7 MB Bundle admitted at 10 bytes per byte still ran the gateway out of memory.
 */
export const GATEWAY_HEAP_PER_BYTE = 20;

/**
 * Heap the gateway needs per byte of a Bundle read as a stream (POST /fhir: gateway/src/fhir/ingest/bundle-stream.ts):
 * neither the raw body nor its text nor the whole parsed Bundle is held, only each entry's mapped record, the owners'
 * requests and a batch of parsed entries at a time. Measured (scripts/bench-bundle-heap.ts: the smallest heap that
 * parses and maps a hospital record and writes its owners' requests is 3.5 bytes per byte streamed against 5.5 read
 * whole at 10 MB, 3.4 against 5.0 at 40 MB) and kept with the same margin over that as GATEWAY_HEAP_PER_BYTE has over
 * the whole-body path (20 × 3.5 / 5.5 ≈ 12).
 */
export const STREAMED_HEAP_PER_BYTE = 12;

/** The factors in force: GATEWAY_HEAP_PER_BYTE (bodies read whole) and GATEWAY_STREAM_HEAP_PER_BYTE (Bundles read as a stream). */
export const heapPerByte = (env: NodeJS.ProcessEnv = process.env) => ({
  whole: positiveInteger('GATEWAY_HEAP_PER_BYTE', GATEWAY_HEAP_PER_BYTE, env),
  streamed: positiveInteger('GATEWAY_STREAM_HEAP_PER_BYTE', STREAMED_HEAP_PER_BYTE, env),
});

/** The largest body the heap left can take now (its limit less what is in use, over `perByte`). */
export function heapAllowance(perByte: number = GATEWAY_HEAP_PER_BYTE): number {
  const { heap_size_limit: limit, used_heap_size: used } = getHeapStatistics();
  return Math.max(0, Math.floor((limit - used) / perByte));
}

/** The largest publishing body the gateway reads now: FHIR_MAX_BUNDLE_BYTES, or less when its free heap could not hold a larger one. */
export const admittedBundleBytes = (configured: number, perByte: number = GATEWAY_HEAP_PER_BYTE) => Math.min(configured, heapAllowance(perByte));

/**
 * The largest attachment of a clinical note stored with it (NOTE_MAX_ATTACHMENT_BYTES, decoded bytes; default 5 MiB):
 * a larger one is refused (422, naming the element); send it as a reference (`url`) with its size and hash instead.
 */
export const DEFAULT_MAX_NOTE_ATTACHMENT_BYTES = 5 * 1024 * 1024;
export const maxNoteAttachmentBytes = (env: NodeJS.ProcessEnv = process.env) => positiveInteger('NOTE_MAX_ATTACHMENT_BYTES', DEFAULT_MAX_NOTE_ATTACHMENT_BYTES, env);
