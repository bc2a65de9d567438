/**
 * Every subgraph's seeder, by name: its part of the synthetic demo data
 * (scripts/seed-data.ts). Only the seeding commands load this, never a
 * running service (test/layout.test.ts checks it).
 */
import type { Seeder } from '../lib/synthetic/seed-types.js';
import type { SubgraphName } from '../lib/runtime/services.js';
import { seeder as encounters } from './encounters/src/seed.js';
import { seeder as identity } from './identity/src/seed.js';
import { seeder as imaging } from './imaging/src/seed.js';
import { seeder as labs } from './labs/src/seed.js';
import { seeder as publicHealth } from './public-health/src/seed.js';

export const SUBGRAPH_SEEDERS: Record<SubgraphName, Seeder> = { identity, encounters, labs, imaging, 'public-health': publicHealth };
