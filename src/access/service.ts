import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { type Actor, type Clock, type Keys, recordChange } from '../authority/index.js';
import { badRequest, conflict, notFound } from '../errors/index.js';
import type {
  AccessApp,
  IdentityProvider,
  ServiceToken,
  SessionRevocation,
  StoreFor,
} from '../store/index.js';
import { parseIdentityProviderInput } from './oidc/index.js';
import { MAX_SESSION_DURATION_MS, parseDuration, validateAccessApp } from './policy/index.js';
import { REVOCATION_HORIZON_MS, type SessionRevocationInput } from './sessions.js';
import { rotateKeysIn, SIGNING_KEYS_LOCK } from './signing-keys.js';

/** Service tokens live longer than sessions: up to five years. */
export const MAX_SERVICE_TOKEN_DURATION_MS = 5 * 365 * 86_400_000;
export const DEFAULT_SERVICE_TOKEN_DURATION = '8760h';

export const hashSecret = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');

export interface NewServiceToken {
  token: ServiceToken;
  /** Shown once. */
  clientSecret: string;
}

/**
 * Access configuration: applications and their policies, service tokens, identity providers and
 * token-signing keys. Every change bumps the config version (edges reload) and is audited, in one
 * transaction.
 */
export interface AccessDeps {
  store: StoreFor<
    | 'accessApps'
    | 'identityProviders'
    | 'serviceTokens'
    | 'sessionRevocations'
    | 'devices'
    | 'registrations'
    | 'clientCertificates'
  >;
  keys: Keys;
  now: Clock;
}

export class AccessService {
  constructor(private readonly deps: AccessDeps) {}

  private get store() {
    return this.deps.store;
  }

  async #idpIdsExist(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      if (!(await this.store.identityProviders.get(id))) {
        throw badRequest('unknown_identity_provider', `allowed_idps: ${id} is not an identity provider`);
      }
    }
  }

  // ---- applications ----

  async createApp(input: unknown, actor: Actor): Promise<AccessApp> {
    const app = validateAccessApp(input);
    await this.#idpIdsExist(app.allowed_idps ?? []);
    if (await this.store.accessApps.byDomain(app.hostname, app.pathPrefix)) {
      throw conflict('app_exists', `an application already covers ${app.domain}`);
    }
    const now = this.deps.now().toISOString();
    const row: AccessApp = {
      id: randomUUID(),
      name: app.name,
      hostname: app.hostname,
      path_prefix: app.pathPrefix,
      aud: randomBytes(32).toString('hex'),
      session_duration: app.session_duration,
      policies: app.policies,
      allowed_idps: app.allowed_idps ?? [],
      created_at: now,
      updated_at: now,
    };
    await this.store.transaction(async (tx) => {
      // Nodes creating the first apps at once would each see no key and each make one.
      await tx.locks.acquire(SIGNING_KEYS_LOCK);
      await tx.accessApps.insert(row);
      // The first application needs a key to sign its tokens with.
      if ((await tx.signingKeys.all()).length === 0)
        await rotateKeysIn(tx, this.deps.keys, this.deps.now(), MAX_SESSION_DURATION_MS, actor);
      await recordChange(
        tx,
        {
          actor,
          action: 'access_app.create',
          resourceId: row.id,
          before: null,
          after: { name: row.name, domain: app.domain },
          reload: 'config',
        },
        this.deps.now(),
      );
    });
    return row;
  }

  async updateApp(id: string, input: unknown, actor: Actor): Promise<AccessApp> {
    const current = await this.getApp(id);
    const app = validateAccessApp(input);
    await this.#idpIdsExist(app.allowed_idps ?? []);
    const clash = await this.store.accessApps.byDomain(app.hostname, app.pathPrefix);
    if (clash && clash.id !== id) throw conflict('app_exists', `an application already covers ${app.domain}`);
    const row: AccessApp = {
      ...current,
      name: app.name,
      hostname: app.hostname,
      path_prefix: app.pathPrefix,
      session_duration: app.session_duration,
      policies: app.policies,
      allowed_idps: app.allowed_idps ?? [],
      updated_at: this.deps.now().toISOString(),
    };
    await this.store.transaction(async (tx) => {
      await tx.accessApps.update(row);
      await recordChange(
        tx,
        {
          actor,
          action: 'access_app.update',
          resourceId: id,
          before: { name: current.name },
          after: { name: row.name, domain: app.domain },
          reload: 'config',
        },
        this.deps.now(),
      );
    });
    return row;
  }

  async getApp(id: string): Promise<AccessApp> {
    const app = await this.store.accessApps.get(id);
    if (!app) throw notFound('access application', id);
    return app;
  }

  listApps(): Promise<AccessApp[]> {
    return this.store.accessApps.all();
  }

  async deleteApp(id: string, actor: Actor): Promise<void> {
    const app = await this.getApp(id);
    await this.store.transaction(async (tx) => {
      await tx.accessApps.delete(id);
      await recordChange(
        tx,
        {
          actor,
          action: 'access_app.delete',
          resourceId: id,
          before: { name: app.name },
          after: null,
          reload: 'config',
        },
        this.deps.now(),
      );
    });
  }

  // ---- service tokens ----

  async createServiceToken(
    input: { name: string; duration?: string },
    actor: Actor,
  ): Promise<NewServiceToken> {
    const durationMs = parseDuration(
      input.duration ?? DEFAULT_SERVICE_TOKEN_DURATION,
      MAX_SERVICE_TOKEN_DURATION_MS,
    );
    if (durationMs === 0)
      throw badRequest('invalid_duration', 'a service token needs a duration longer than 0s');
    const now = this.deps.now();
    const clientSecret = randomBytes(32).toString('hex');
    const token: ServiceToken = {
      id: randomUUID(),
      name: input.name,
      client_id: `${randomBytes(16).toString('hex')}.access`,
      secret_hash: hashSecret(clientSecret),
      expires_at: new Date(now.getTime() + durationMs).toISOString(),
      created_at: now.toISOString(),
      rotated_at: null,
    };
    await this.store.transaction(async (tx) => {
      await tx.serviceTokens.insert(token);
      await recordChange(
        tx,
        {
          actor,
          action: 'service_token.create',
          resourceId: token.id,
          before: null,
          after: {
            name: token.name,
            client_id: token.client_id,
          },
          reload: 'config',
        },
        this.deps.now(),
      );
    });
    return { token, clientSecret };
  }

  /** The service token these credentials belong to, if they are valid and unexpired (timing-safe). */
  async verifyServiceToken(clientId: string, clientSecret: string): Promise<ServiceToken | undefined> {
    const token = (await this.store.serviceTokens.all()).find((t) => t.client_id === clientId);
    if (!token || (token.expires_at && Date.parse(token.expires_at) <= this.deps.now().getTime()))
      return undefined;
    const presented = Buffer.from(hashSecret(clientSecret), 'hex');
    return timingSafeEqual(presented, Buffer.from(token.secret_hash, 'hex')) ? token : undefined;
  }

  async getServiceToken(id: string): Promise<ServiceToken> {
    const token = await this.store.serviceTokens.get(id);
    if (!token) throw notFound('service token', id);
    return token;
  }

  listServiceTokens(): Promise<ServiceToken[]> {
    return this.store.serviceTokens.all();
  }

  /** A new secret for the same client id; the old secret stops working at once. */
  async rotateServiceToken(id: string, actor: Actor): Promise<NewServiceToken> {
    const token = await this.getServiceToken(id);
    const clientSecret = randomBytes(32).toString('hex');
    const at = this.deps.now().toISOString();
    await this.store.transaction(async (tx) => {
      await tx.serviceTokens.rotate(id, hashSecret(clientSecret), at);
      await recordChange(
        tx,
        {
          actor,
          action: 'service_token.rotate',
          resourceId: id,
          before: null,
          after: { client_id: token.client_id },
          reload: 'config',
        },
        this.deps.now(),
      );
    });
    return { token: { ...token, secret_hash: hashSecret(clientSecret), rotated_at: at }, clientSecret };
  }

  async revokeServiceToken(id: string, actor: Actor): Promise<void> {
    const token = await this.getServiceToken(id);
    await this.store.transaction(async (tx) => {
      await tx.serviceTokens.delete(id);
      await recordChange(
        tx,
        {
          actor,
          action: 'service_token.revoke',
          resourceId: id,
          before: { name: token.name, client_id: token.client_id },
          after: null,
          reload: 'config',
        },
        this.deps.now(),
      );
    });
  }

  // ---- sessions ----

  /**
   * Revokes every session issued until now that matches all the given selectors. A device or
   * registration is resolved to its certificates now: a session issued later is not revoked
   * anyway, so the ones it could bind to are exactly these. Reaches edges with the next snapshot.
   */
  async revokeSessions(input: SessionRevocationInput, actor: Actor): Promise<SessionRevocation> {
    const deviceSelectors = [input.device_id, input.registration_id, input.certificate_sha256].filter(
      (v) => v !== undefined,
    );
    if (deviceSelectors.length === 0 && input.app_id === undefined && input.user === undefined)
      throw badRequest(
        'no_selector',
        'name an app_id, a user, a device_id, a registration_id or a certificate_sha256',
      );
    if (deviceSelectors.length > 1)
      throw badRequest(
        'conflicting_selectors',
        'give at most one of device_id, registration_id and certificate_sha256',
      );
    if (input.app_id !== undefined && !(await this.store.accessApps.get(input.app_id)))
      throw badRequest('unknown_application', `app_id: ${input.app_id} is not an access application`);
    let certificates: string[] | undefined;
    if (input.certificate_sha256 !== undefined) certificates = [input.certificate_sha256.toLowerCase()];
    if (input.device_id !== undefined) {
      if (!(await this.store.devices.get(input.device_id)))
        throw badRequest('unknown_device', `device_id: ${input.device_id} is not a device`);
      const registrations = (await this.store.registrations.all()).filter(
        (r) => r.device_id === input.device_id,
      );
      certificates = await this.#certificatesOf(registrations);
    }
    if (input.registration_id !== undefined) {
      const registration = await this.store.registrations.get(input.registration_id);
      if (!registration)
        throw badRequest(
          'unknown_registration',
          `registration_id: ${input.registration_id} is not a registration`,
        );
      certificates = await this.#certificatesOf([registration]);
    }
    const row: SessionRevocation = {
      id: randomUUID(),
      app_id: input.app_id ?? null,
      principal: input.user ?? null,
      device_id: input.device_id ?? null,
      registration_id: input.registration_id ?? null,
      certificates: certificates ?? null,
      revoked_at: this.deps.now().toISOString(),
    };
    await this.store.transaction(async (tx) => {
      await tx.sessionRevocations.insert(row);
      await recordChange(
        tx,
        {
          actor,
          action: 'session.revoke',
          resourceId: row.id,
          before: null,
          after: {
            app_id: row.app_id,
            user: row.principal,
            device_id: row.device_id,
            registration_id: row.registration_id,
            certificates: certificates ?? null,
          },
          reload: 'config',
        },
        this.deps.now(),
      );
    });
    return row;
  }

  /** Revocations that can still match an unexpired session, newest first. */
  listSessionRevocations(): Promise<SessionRevocation[]> {
    const since = new Date(this.deps.now().getTime() - REVOCATION_HORIZON_MS).toISOString();
    return this.store.sessionRevocations.since(since);
  }

  async #certificatesOf(
    registrations: readonly { certificate_id: string | null; certificate_fingerprint: string | null }[],
  ): Promise<string[]> {
    const out = new Set<string>();
    for (const r of registrations) {
      if (r.certificate_fingerprint) out.add(r.certificate_fingerprint.toLowerCase());
      const cert = r.certificate_id ? await this.store.clientCertificates.get(r.certificate_id) : undefined;
      if (cert) out.add(cert.fingerprint_sha256.toLowerCase());
    }
    return [...out];
  }

  // ---- identity providers ----

  async createIdentityProvider(input: unknown, actor: Actor): Promise<IdentityProvider> {
    const idp = parseIdentityProviderInput(input);
    const now = this.deps.now().toISOString();
    const id = randomUUID();
    const row: IdentityProvider = {
      id,
      name: idp.name,
      type: 'oidc',
      issuer: idp.issuer,
      client_id: idp.client_id,
      sealed_client_secret: this.deps.keys.sealKey(idp.client_secret, `idp:${id}`),
      scopes: idp.scopes,
      claims: idp.claims,
      created_at: now,
      updated_at: now,
    };
    await this.store.transaction(async (tx) => {
      await tx.identityProviders.insert(row);
      await recordChange(
        tx,
        {
          actor,
          action: 'identity_provider.create',
          resourceId: id,
          before: null,
          after: {
            name: row.name,
            issuer: row.issuer,
          },
          reload: 'config',
        },
        this.deps.now(),
      );
    });
    return row;
  }

  async updateIdentityProvider(id: string, input: unknown, actor: Actor): Promise<IdentityProvider> {
    const current = await this.getIdentityProvider(id);
    const idp = parseIdentityProviderInput(input);
    const row: IdentityProvider = {
      ...current,
      name: idp.name,
      issuer: idp.issuer,
      client_id: idp.client_id,
      sealed_client_secret: this.deps.keys.sealKey(idp.client_secret, `idp:${id}`),
      scopes: idp.scopes,
      claims: idp.claims,
      updated_at: this.deps.now().toISOString(),
    };
    await this.store.transaction(async (tx) => {
      await tx.identityProviders.update(row);
      await recordChange(
        tx,
        {
          actor,
          action: 'identity_provider.update',
          resourceId: id,
          before: { issuer: current.issuer },
          after: { issuer: row.issuer },
          reload: 'config',
        },
        this.deps.now(),
      );
    });
    return row;
  }

  async getIdentityProvider(id: string): Promise<IdentityProvider> {
    const idp = await this.store.identityProviders.get(id);
    if (!idp) throw notFound('identity provider', id);
    return idp;
  }

  listIdentityProviders(): Promise<IdentityProvider[]> {
    return this.store.identityProviders.all();
  }

  async deleteIdentityProvider(id: string, actor: Actor): Promise<void> {
    const idp = await this.getIdentityProvider(id);
    const users = (await this.store.accessApps.all()).filter((a) => a.allowed_idps.includes(id));
    if (users.length > 0) {
      throw conflict(
        'identity_provider_in_use',
        `identity provider ${id} is allowed by ${users.length} application(s): ${users.map((a) => a.name).join(', ')}`,
      );
    }
    await this.store.transaction(async (tx) => {
      await tx.identityProviders.delete(id);
      await recordChange(
        tx,
        {
          actor,
          action: 'identity_provider.delete',
          resourceId: id,
          before: { name: idp.name },
          after: null,
          reload: 'config',
        },
        this.deps.now(),
      );
    });
  }

  // ---- signing keys ----

  /** `gatehouse keys rotate`: old keys verify until the longest session they may have signed ends. */
  async rotateSigningKeys(actor: Actor): Promise<{ kid: string; retired: string[] }> {
    const apps = await this.store.accessApps.all();
    const longest = Math.max(
      0,
      ...apps.flatMap((a) => [
        parseDuration(a.session_duration),
        ...((a.policies ?? []) as { session_duration?: string }[]).map((p) =>
          p.session_duration ? parseDuration(p.session_duration) : 0,
        ),
      ]),
    );
    return this.store.transaction((tx) => rotateKeysIn(tx, this.deps.keys, this.deps.now(), longest, actor));
  }
}
