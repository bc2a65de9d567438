/**
 * Static composition: the supergraph is composed from schema/<subgraph>.graphql
 * with @apollo/composition and checked in; the gateway serves that file and
 * never introspects subgraphs at run time.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { SUBGRAPH_NAMES, SUBGRAPHS, servicePort } from '../../lib/services.js';
import { ROOT, subgraphSdl } from '../../lib/subgraph.js';

export const SUPERGRAPH_FILE = path.join(ROOT, 'schema', 'supergraph.graphql');

export function composeSupergraph(): { supergraphSdl?: string; errors?: string[]; hints: string[] } {
  const result = composeServices(
    SUBGRAPH_NAMES.map((name) => ({
      name,
      // Routing URLs in the checked-in file are the local defaults; the gateway
      // overrides them from <SUBGRAPH>_URL at run time.
      url: `http://127.0.0.1:${servicePort(SUBGRAPHS[name], {})}/graphql`,
      typeDefs: parse(subgraphSdl(name)),
    })),
  );
  if (result.errors) return { errors: result.errors.map((e) => e.message), hints: [] };
  return { supergraphSdl: result.supergraphSdl, hints: result.hints.map((h) => h.toString()) };
}

export const readSupergraph = () => readFileSync(SUPERGRAPH_FILE, 'utf8');
