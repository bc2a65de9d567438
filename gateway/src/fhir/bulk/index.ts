/**
 * The FHIR Bulk Data export, assembled: settings, job store, file storage,
 * worker and route (docs/bulk-export.md).
 */
import type { ApolloServer } from '@apollo/server';
import type { Route } from '../../../../lib/runtime/http.js';
import type { Logger } from '../../../../lib/runtime/logger.js';
import type { TokenVerifier } from '../../auth.js';
import type { GatewayContext } from '../../context.js';
import { bulkExportSettings, type BulkExportSettings } from './config.js';
import { bulkExportRoute } from './route.js';
import { localStorage, s3Storage, type ExportStorage } from './storage.js';
import { JobStore } from './store.js';
import { ExportWorker } from './worker.js';

export interface BulkExport {
  settings: BulkExportSettings;
  store: JobStore;
  storage: ExportStorage;
  worker: ExportWorker;
  route: Route;
  close(): Promise<void>;
}

/**
 * Starts the export, or answers null when it is off: EXPORT_DATABASE_URL=off,
 * or production without EXPORT_DATABASE_URL (a production gateway keeps no
 * state on its own disk unless told where: docs/bulk-export.md).
 */
export async function startBulkExport(options: { apollo: ApolloServer<GatewayContext>; verifyToken: TokenVerifier; logger: Logger; settings: Partial<BulkExportSettings>; production: boolean }): Promise<BulkExport | null> {
  const settings = bulkExportSettings(process.env, options.settings);
  if (settings.databaseUrl === 'off') return null;
  if (options.production && !process.env.EXPORT_DATABASE_URL && !options.settings.databaseUrl) {
    options.logger.info('FHIR Bulk Data export is off: set EXPORT_DATABASE_URL (and EXPORT_STORAGE_DIR or EXPORT_S3_BUCKET) to turn it on');
    return null;
  }
  const store = await JobStore.open(settings.databaseUrl);
  let storage: ExportStorage;
  try {
    storage = settings.s3 ? await s3Storage(settings.s3, settings.storageDir) : localStorage(settings.storageDir);
  } catch (error) {
    await store.close();
    throw error;
  }
  const worker = new ExportWorker(store, storage, options.apollo, settings, options.logger);
  const route = bulkExportRoute({ apollo: options.apollo, verifyToken: options.verifyToken, logger: options.logger, store, storage, worker, settings });
  let closed = false;
  return {
    settings, store, storage, worker, route,
    close: async () => {
      if (closed) return;
      closed = true;
      await worker.stop();
      await store.close();
    },
  };
}
