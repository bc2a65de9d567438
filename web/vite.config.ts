/**
 * The reference web client and the GraphQL explorer, built together by Vite
 * into web/dist (`npm run web:build`; `npm start` builds when stale). The
 * gateway serves the build in development: the client at /app/, the explorer
 * at GET /graphql. For live editing, `npx vite --config web/vite.config.ts`
 * serves the client on :5173 and forwards API calls to a running `npm start`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const root = path.dirname(fileURLToPath(import.meta.url));
// The gateway `npm start` runs: GATEWAY_ORIGIN when set, else loopback on GATEWAY_PORT (default 4000), like npm start.
const gateway = process.env.GATEWAY_ORIGIN ?? `http://127.0.0.1:${process.env.GATEWAY_PORT ?? 4000}`;

export default defineConfig({
  root,
  base: '/app/',
  plugins: [react()],
  // Vite would otherwise pick graphql's ESM build for some importers and its CommonJS build for others.
  resolve: { dedupe: ['graphql', 'react', 'react-dom'] },
  build: {
    outDir: path.join(root, 'dist'),
    emptyOutDir: true,
    // GraphiQL's editor is large; it loads only on the explorer page.
    chunkSizeWarningLimit: 6000,
    rollupOptions: {
      input: { app: path.join(root, 'index.html'), explorer: path.join(root, 'explorer.html') },
      // GraphiQL's modules carry React Compiler directives ("use no memo") the bundler drops harmlessly.
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  server: {
    proxy: { '/graphql': gateway, '/dev': gateway },
  },
});
