# One image for every service; the command picks the service:
#   node dist/scripts/service.js <gateway|identity|encounters|labs|imaging|public-health>
# Build stage: every dependency, TypeScript compiled to dist/ (npm run build).
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY lib ./lib
COPY gateway ./gateway
COPY subgraphs ./subgraphs
COPY scripts ./scripts
RUN npm run build

# Runtime stage: production dependencies, the compiled JavaScript, and the files
# the services read at run time from the package root (schemas, the supergraph,
# each subgraph's migrations, the publishing protocol's and the record tables'). Owned by root, run as the unprivileged `node`
# user, so the application cannot change its own code (and the root filesystem
# can be mounted read-only: nothing is written under /app in production).
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# V8 would otherwise let the old space grow far past the live set before collecting (NODE_HEAP_OPTIONS in lib/runtime/services.ts).
ENV NODE_OPTIONS="--max-old-space-size=128"
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schema ./schema
COPY subgraphs/identity/migrations ./subgraphs/identity/migrations
COPY subgraphs/encounters/migrations ./subgraphs/encounters/migrations
COPY subgraphs/labs/migrations ./subgraphs/labs/migrations
COPY subgraphs/imaging/migrations ./subgraphs/imaging/migrations
COPY subgraphs/public-health/migrations ./subgraphs/public-health/migrations
COPY lib/ingest/migrations ./lib/ingest/migrations
COPY lib/records/migrations ./lib/records/migrations
COPY gateway/migrations ./gateway/migrations
# The one directory the gateway writes (the Bulk Data export's files, EXPORT_STORAGE_DIR): a volume mounted here
# takes its owner from the image, so the unprivileged user can write it.
RUN mkdir -p /var/lib/fpr/bulk-export && chown node:node /var/lib/fpr/bulk-export
USER node
EXPOSE 4000 4001 4002 4003 4004 4005 9400 9401 9402 9403 9404 9405
CMD ["node", "dist/scripts/service.js", "gateway"]
