/**
 * GraphQL Code Generator: TypeScript types for the web client's operations,
 * from the public API schema (schema/api.graphql, written by `npm run
 * compose`). `npm run codegen` writes web/src/gql/; the output is checked in
 * and test/codegen.test.ts fails when it is stale. Operations are written with
 * the generated `graphql()` function (web/src/operations.ts), which returns
 * typed documents urql (or Apollo Client) understands.
 */
import type { CodegenConfig } from '@graphql-codegen/cli';

export const CODEGEN_OUTPUT = 'web/src/gql/';

const config: CodegenConfig = {
  schema: 'schema/api.graphql',
  documents: ['web/src/**/*.{ts,tsx}', '!web/src/gql/**/*'],
  ignoreNoDocuments: false,
  generates: {
    [CODEGEN_OUTPUT]: {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        // The API's custom scalars travel as ISO 8601 strings.
        scalars: { DateTime: 'string', Date: 'string' },
        enumsAsTypes: true,
        useTypeImports: true,
        avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
        skipTypename: false,
      },
    },
  },
  silent: true,
};

export default config;
