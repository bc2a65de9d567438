/**
 * The query cost limit, one for each kind of operation.
 *
 * Callers of /graphql send operations of their own choosing: they are held to
 * the public limit (QUERY_LIMITS.maxCost), which bounds what one hostile
 * document can make the subgraphs do. The gateway's own FHIR operations
 * (`$everything`, FHIR search, the Bulk Data export: fhir/queries.ts and
 * fhir/search/) are fixed texts the gateway builds, never the caller's (their
 * values travel as variables); they are bounded by construction (a page of 100
 * of each record type the plan names) and are held to a limit of their own
 * (QUERY_LIMITS.maxGeneratedCost), so the largest of them, the export's page
 * of every record type, does not raise the limit every caller gets.
 *
 * Why not a context-aware validation rule: Apollo caches validated documents
 * (the document store) and skips validation for a text it has seen, so a rule
 * that let a generated operation through would let the same text through when
 * a caller sent it afterwards. Here validation only measures the cost (graphql-
 * armor's own rule, with no limit) and remembers it with the document; the
 * limit is applied on every request, cached document or not, in
 * `didResolveOperation`, where the request's context says who built it.
 *
 * Why not split the export into operations that each fit the public limit: a
 * patient would then take one operation per owner instead of one (five times
 * the round trips and audit events per patient), and several patients could no
 * longer share an operation (fhir/bulk/worker.ts).
 */
import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type DocumentNode, type ValidationContext } from 'graphql';
import type { GatewayContext } from './context.js';

export interface CostLimits {
  /** Operations sent by callers (POST /graphql). */
  maxCost: number;
  /** Operations the gateway builds itself (contexts marked `generated`). */
  maxGeneratedCost: number;
}

/** The validation rules that measure each document's cost, and the plugin that applies the limits. */
export function queryCostLimits(limits: CostLimits): { validationRules: NonNullable<ReturnType<ApolloArmor['protect']>['validationRules']>; plugin: ApolloServerPlugin<GatewayContext> } {
  // Costs of the documents validated so far, held as long as the document itself (Apollo's document store keeps
  // the very object it validated, so a cached document finds its cost here).
  const costs = new WeakMap<DocumentNode, number>();
  const measure = new ApolloArmor({
    costLimit: {
      maxCost: Number.MAX_SAFE_INTEGER,
      onAccept: [(context: ValidationContext | null, { n }: { n: number }) => {
        if (context) costs.set(context.getDocument(), Math.max(costs.get(context.getDocument()) ?? 0, n));
      }],
    },
    maxDepth: { enabled: false },
    maxAliases: { enabled: false },
    maxDirectives: { enabled: false },
    maxTokens: { enabled: false },
    blockFieldSuggestion: { enabled: false },
  }).protect();
  return {
    validationRules: measure.validationRules ?? [],
    plugin: {
      async requestDidStart() {
        return {
          async didResolveOperation({ document, contextValue }: GraphQLRequestContext<GatewayContext>) {
            const limit = contextValue.generated ? limits.maxGeneratedCost : limits.maxCost;
            const cost = document ? costs.get(document) : undefined;
            // Unmeasured would mean a document that skipped validation: refused rather than let through.
            if (cost === undefined || cost > limit) {
              throw new GraphQLError(`Query cost limit of ${limit} exceeded${cost === undefined ? '' : `, found ${cost}`}: ask for fewer fields or smaller pages, or split the query`, {
                extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
              });
            }
          },
        };
      },
    },
  };
}
