/**
 * What another entry point adds to the services scripts/service.ts starts,
 * set before it loads that script: the benchmark's entry
 * (scripts/bench-service.ts) replaces the consent policy to measure what it
 * costs. The production entry sets nothing, and the subgraph runtime refuses
 * a replaced policy in production anyway.
 */
import type { ConsentInjection } from '../lib/runtime/subgraph.js';

export const serviceExtras: { consentInjection?: ConsentInjection } = {};
