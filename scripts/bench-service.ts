/**
 * `npm run bench`'s "consent off" services: scripts/service.ts started with
 * the benchmark's own consent policy (scripts/bench-consent-off.ts: every
 * record allowed, no field rules), which only a development service accepts.
 */
import { CONSENT_OFF } from './bench-consent-off.js';
import { serviceExtras } from './service-extras.js';

serviceExtras.consentInjection = CONSENT_OFF;
await import('./service.js');
