/**
 * The authorization server's calls to identity, which keeps its state
 * (subgraphs/identity/src/authorization.ts): oidc-provider's storage
 * adapter, registered apps, accounts and approvals. The gateway stores
 * nothing itself, so any number of replicas serve the same grants, and a
 * restart loses none.
 */
import { randomUUID } from 'node:crypto';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Actor } from '../../../lib/trust/actor.js';
import { INTERNAL_APIS, internalCaller, type InternalApi } from '../../../lib/runtime/internal-api.js';
import type { InternalAuth } from '../../../lib/trust/internal-token.js';
import type { SubgraphName } from '../../../lib/runtime/services.js';
import { AUTHORIZATION_SERVER_ACTOR, type AccountRequest, type ApprovalRequest, type RegisteredApp, type SignInAccount } from '../../../lib/trust/smart-apps.js';
import type { Telemetry } from '../../../lib/runtime/telemetry.js';

export interface IdentityClientOptions {
  auth: InternalAuth;
  url: (name: SubgraphName) => string;
  timeoutMs: number;
  telemetry?: Telemetry;
}

export interface IdentityClient {
  call<T>(api: InternalApi, body: unknown, actor?: Actor, requestId?: string): Promise<T>;
  app(clientId: string): Promise<RegisteredApp | null>;
  account(request: AccountRequest): Promise<SignInAccount | null>;
  demoAccounts(): Promise<SignInAccount[]>;
  /** Whether the patient's approval of the app is in force now. */
  approved(patientId: string, clientId: string): Promise<boolean>;
  /** Records the patient's approval (a consent directive), under the patient's actor so the audit trail names them. */
  approve(patient: Actor, request: ApprovalRequest, requestId: string): Promise<string>;
  /** oidc-provider's adapter class, storing its models in identity. */
  Adapter: new (model: string) => Adapter;
}

export function identityClient(options: IdentityClientOptions): IdentityClient {
  const call = <T>(api: InternalApi, body: unknown, actor: Actor = AUTHORIZATION_SERVER_ACTOR, requestId: string = randomUUID()) =>
    internalCaller({ auth: options.auth, url: options.url, requestId, actor, timeoutMs: options.timeoutMs, telemetry: options.telemetry }).call<T>(api, body);
  const store = <T>(body: Record<string, unknown>) => call<T>(INTERNAL_APIS.authorizationStore, body);

  class IdentityAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      await store({ op: 'upsert', model: this.model, id, payload, expiresIn });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const app = await appOf(id);
        return app ? clientMetadata(app) : undefined;
      }
      return (await store<{ payload: AdapterPayload | null }>({ op: 'find', model: this.model, id })).payload ?? undefined;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return (await store<{ payload: AdapterPayload | null }>({ op: 'findByUid', model: this.model, id: uid })).payload ?? undefined;
    }

    async findByUserCode(): Promise<AdapterPayload | undefined> {
      return undefined; // no device flow
    }

    async consume(id: string): Promise<void> {
      const { consumed } = await store<{ consumed: boolean }>({ op: 'consume', model: this.model, id });
      // Another request used it in between (two exchanges of one code at once): only one may win.
      if (!consumed) throw new errors.InvalidGrant('grant request is invalid (already used)');
    }

    async destroy(id: string): Promise<void> {
      await store({ op: 'destroy', model: this.model, id });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await store({ op: 'revokeByGrantId', model: this.model, id: grantId });
    }
  }

  const appOf = async (clientId: string) => (await call<{ app: RegisteredApp | null }>(INTERNAL_APIS.authorizationClient, { clientId })).app;

  return {
    call,
    app: appOf,
    account: async (request) => (await call<{ account: SignInAccount | null }>(INTERNAL_APIS.authorizationAccount, request)).account,
    approved: async (patientId, clientId) => (await call<{ approved: boolean }>(INTERNAL_APIS.authorizationAccount, { op: 'approved', patientId, clientId })).approved,
    demoAccounts: async () => (await call<{ accounts: SignInAccount[] }>(INTERNAL_APIS.authorizationAccount, { op: 'demo' })).accounts,
    approve: async (patient, request, requestId) => (await call<{ directiveId: string }>(INTERNAL_APIS.authorizationApproval, request, patient, requestId)).directiveId,
    Adapter: IdentityAdapter,
  };
}

/**
 * oidc-provider client metadata for a registered app. An inactive app has
 * none (it is unknown to the server). `fpr_*` members carry what the
 * approval screen and the tokens need: who is behind the app, what kind it
 * is, what it may be granted.
 */
export function clientMetadata(app: RegisteredApp): AdapterPayload | undefined {
  if (!app.active) return undefined;
  const backend = app.kind === 'BACKEND_SERVICE';
  const offline = app.scope.split(' ').includes('offline_access');
  return {
    client_id: app.clientId,
    client_name: app.name,
    application_type: 'web',
    redirect_uris: app.redirectUris,
    grant_types: backend ? ['client_credentials'] : ['authorization_code', ...(offline ? ['refresh_token'] : [])],
    response_types: backend ? [] : ['code'],
    token_endpoint_auth_method: app.clientType === 'PUBLIC' ? 'none' : app.clientType === 'CONFIDENTIAL_SYMMETRIC' ? 'client_secret_basic' : 'private_key_jwt',
    ...(app.secretHash ? { client_secret: app.secretHash } : {}),
    ...(app.jwks ? { jwks: app.jwks } : {}),
    ...(app.jwksUri ? { jwks_uri: app.jwksUri } : {}),
    fpr_kind: app.kind,
    fpr_organization: app.organizationId,
    fpr_organization_name: app.organizationName,
    fpr_scope: app.scope,
  } as AdapterPayload;
}
