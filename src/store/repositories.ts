import { type Kysely, type Selectable, sql } from 'kysely';
import { TpmAttestations, TpmEkCas, TpmEkPins } from './attestation.js';
import type { Dialect } from './migrations.js';
import type {
  AccessApp,
  Device,
  DeviceAssurance,
  DeviceLogin,
  OrganizationSettings,
  Registration,
  RegistrationStatus,
  ApiToken,
  IdentityProvider,
  ServiceToken,
  SigningKey,
  AttachedCrl,
  Hostname,
  IdempotencyKey,
  AuditEntry,
  CertificateAuthority,
  ClientCertificate,
  ClientCertificateStatus,
  Crl,
  Database,
  AccessAppTable,
  AuditLogTable,
  DeviceLoginTable,
  HostnameTable,
  NewRegistration,
  StoredCertificateSummary,
  StoredIdentity,
  IdentityProviderTable,
  PostureResultTable,
  PostureRuleTable,
  SessionRevocationTable,
  SigningKeyTable,
  RegistrationTable,
  NewAuditEntry,
  NewCertificateAuthority,
  NewClientCertificate,
  Organization,
  TlsIdentity,
  NewPostureResult,
  PostureResultRow,
  PostureRuleRow,
  PostureStatusRow,
  SessionRevocation,
} from './schema.js';

export interface Page {
  page: number;
  perPage: number;
}

export interface PageResult<T> {
  items: T[];
  total: number;
}

const offsetOf = ({ page, perPage }: Page) => (page - 1) * perPage;

/**
 * Typed queries, one class per aggregate. Each is bound to a Kysely executor, which is either the
 * pool or an open transaction, so the same code runs inside and outside `Store.transaction`.
 */
export class Organizations {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(org: Organization): Promise<void> {
    await this.db.insertInto('organizations').values(org).execute();
  }

  async first(): Promise<Organization | undefined> {
    return this.db.selectFrom('organizations').selectAll().orderBy('created_at').limit(1).executeTakeFirst();
  }
}

export class CertificateAuthorities {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(ca: NewCertificateAuthority): Promise<void> {
    await this.db.insertInto('certificate_authorities').values(ca).execute();
  }

  async get(id: string): Promise<CertificateAuthority | undefined> {
    return this.db.selectFrom('certificate_authorities').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async bySource(source: CertificateAuthority['source']): Promise<CertificateAuthority[]> {
    return this.db
      .selectFrom('certificate_authorities')
      .selectAll()
      .where('source', '=', source)
      .orderBy('created_at')
      .execute();
  }

  async list(page: Page): Promise<PageResult<CertificateAuthority>> {
    const [items, count] = await Promise.all([
      this.db
        .selectFrom('certificate_authorities')
        .selectAll()
        .where('source', '!=', 'org_root')
        .orderBy('created_at')
        .orderBy('id')
        .limit(page.perPage)
        .offset(offsetOf(page))
        .execute(),
      this.db
        .selectFrom('certificate_authorities')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('source', '!=', 'org_root')
        .executeTakeFirstOrThrow(),
    ]);
    return { items, total: Number(count.n) };
  }

  async all(): Promise<CertificateAuthority[]> {
    return this.db.selectFrom('certificate_authorities').selectAll().execute();
  }

  async delete(id: string): Promise<number> {
    const res = await this.db.deleteFrom('certificate_authorities').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows);
  }

  /** Everything that points at a CA; a CA with references cannot be deleted. */
  async references(id: string): Promise<{ kind: string; count: number }[]> {
    const [certs, children, hostnames, postureRules] = await Promise.all([
      this.db
        .selectFrom('client_certificates')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('ca_id', '=', id)
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('certificate_authorities')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('parent_id', '=', id)
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('hostname_cas')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('ca_id', '=', id)
        .executeTakeFirstOrThrow(),
      this.db
        .selectFrom('posture_rules')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .where('certificate_id', '=', id)
        .executeTakeFirstOrThrow(),
    ]);
    return [
      { kind: 'client_certificates', count: Number(certs.n) },
      { kind: 'certificate_authorities', count: Number(children.n) },
      { kind: 'hostnames', count: Number(hostnames.n) },
      { kind: 'posture_rules', count: Number(postureRules.n) },
    ].filter((r) => r.count > 0);
  }
}

export class Crls {
  constructor(private readonly db: Kysely<Database>) {}

  async get(caId: string): Promise<Crl | undefined> {
    return this.db.selectFrom('crls').selectAll().where('ca_id', '=', caId).executeTakeFirst();
  }

  async upsert(crl: Crl): Promise<void> {
    await this.db
      .insertInto('crls')
      .values(crl)
      .onConflict((oc) =>
        oc.column('ca_id').doUpdateSet({
          crl_number: crl.crl_number,
          this_update: crl.this_update,
          next_update: crl.next_update,
          der_base64: crl.der_base64,
        }),
      )
      .execute();
  }
}

export interface ClientCertificateFilter {
  status?: 'active' | 'revoked' | 'expired';
  now: string;
}

export class ClientCertificates {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(cert: NewClientCertificate): Promise<void> {
    await this.db.insertInto('client_certificates').values(cert).execute();
  }

  async get(id: string): Promise<ClientCertificate | undefined> {
    return this.db.selectFrom('client_certificates').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(filter: ClientCertificateFilter, page: Page): Promise<PageResult<ClientCertificate>> {
    let query = this.db.selectFrom('client_certificates');
    // "expired" is derived from not_after so it never goes stale in storage.
    if (filter.status === 'revoked') query = query.where('status', '=', 'revoked');
    if (filter.status === 'active')
      query = query.where('status', '=', 'active').where('not_after', '>', filter.now);
    if (filter.status === 'expired')
      query = query.where('status', '=', 'active').where('not_after', '<=', filter.now);
    const [items, count] = await Promise.all([
      query
        .selectAll()
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .limit(page.perPage)
        .offset(offsetOf(page))
        .execute(),
      query.select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items, total: Number(count.n) };
  }

  /** Expiry times of the active certificates that expire in [from, to) (for the overview chart). */
  async expiringBetween(from: string, to: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('client_certificates')
      .select('not_after')
      .where('status', '=', 'active')
      .where('not_after', '>=', from)
      .where('not_after', '<', to)
      .execute();
    return rows.map((r) => r.not_after);
  }

  async markRevoked(id: string, at: string, reason: string): Promise<boolean> {
    const res = await this.db
      .updateTable('client_certificates')
      .set({ status: 'revoked' satisfies ClientCertificateStatus, revoked_at: at, revocation_reason: reason })
      .where('id', '=', id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  /** What `caId` revoked, leaving out certificates that expired at or before `expiredBy`. */
  async revokedBy(
    caId: string,
    expiredBy: string,
  ): Promise<Pick<ClientCertificate, 'serial_number' | 'revoked_at' | 'revocation_reason'>[]> {
    return this.db
      .selectFrom('client_certificates')
      .select(['serial_number', 'revoked_at', 'revocation_reason'])
      .where('ca_id', '=', caId)
      .where('status', '=', 'revoked')
      .where('not_after', '>', expiredBy)
      .orderBy('revoked_at')
      .execute();
  }
}

export class RevokedSerials {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Every serial the organization's CAs revoked, for the edge's in-memory revocation sets,
   * leaving out certificates that expired at or before `expiredBy` (the edge refuses those anyway).
   */
  async all(expiredBy: string): Promise<{ ca_id: string; serial_number: string }[]> {
    return this.db
      .selectFrom('client_certificates')
      .select(['ca_id', 'serial_number'])
      .where('status', '=', 'revoked')
      .where('not_after', '>', expiredBy)
      .execute();
  }
}

export class TlsIdentities {
  constructor(private readonly db: Kysely<Database>) {}

  async put(identity: TlsIdentity): Promise<void> {
    await this.db
      .insertInto('tls_identities')
      .values(identity)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          certificate_pem: identity.certificate_pem,
          chain_pem: identity.chain_pem,
          sealed_private_key: identity.sealed_private_key,
          not_after: identity.not_after,
        }),
      )
      .execute();
  }

  async get(id: string): Promise<TlsIdentity | undefined> {
    return this.db.selectFrom('tls_identities').selectAll().where('id', '=', id).executeTakeFirst();
  }
}

export class ApiTokens {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(token: ApiToken): Promise<void> {
    await this.db.insertInto('api_tokens').values(token).execute();
  }

  async byHash(tokenHash: string): Promise<ApiToken | undefined> {
    return this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
  }

  async touch(id: string, at: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }
}

export class Hostnames {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(hostname: Hostname, caIds: string[]): Promise<void> {
    await this.db.insertInto('hostnames').values(hostnameToRow(hostname)).execute();
    await this.setCas(hostname.id, caIds);
  }

  async update(hostname: Hostname, caIds: string[]): Promise<void> {
    const { id, created_at: _created, ...rest } = hostnameToRow(hostname);
    await this.db.updateTable('hostnames').set(rest).where('id', '=', id).execute();
    await this.setCas(id, caIds);
  }

  private async setCas(hostnameId: string, caIds: string[]): Promise<void> {
    await this.db.deleteFrom('hostname_cas').where('hostname_id', '=', hostnameId).execute();
    if (caIds.length > 0) {
      await this.db
        .insertInto('hostname_cas')
        .values(caIds.map((ca_id) => ({ hostname_id: hostnameId, ca_id })))
        .execute();
    }
  }

  async get(id: string): Promise<Hostname | undefined> {
    const row = await this.db.selectFrom('hostnames').selectAll().where('id', '=', id).executeTakeFirst();
    return row && hostnameFromRow(row);
  }

  async byName(hostname: string): Promise<Hostname | undefined> {
    const row = await this.db
      .selectFrom('hostnames')
      .selectAll()
      .where('hostname', '=', hostname)
      .executeTakeFirst();
    return row && hostnameFromRow(row);
  }

  async list(page: Page): Promise<PageResult<Hostname>> {
    const [rows, count] = await Promise.all([
      this.db
        .selectFrom('hostnames')
        .selectAll()
        .orderBy('hostname')
        .limit(page.perPage)
        .offset(offsetOf(page))
        .execute(),
      this.db
        .selectFrom('hostnames')
        .select((eb) => eb.fn.countAll<string | number>().as('n'))
        .executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(hostnameFromRow), total: Number(count.n) };
  }

  async all(): Promise<Hostname[]> {
    const rows = await this.db.selectFrom('hostnames').selectAll().orderBy('hostname').execute();
    return rows.map(hostnameFromRow);
  }

  /** CA ids per hostname id. */
  async caIds(hostnameIds?: string[]): Promise<Map<string, string[]>> {
    let query = this.db.selectFrom('hostname_cas').select(['hostname_id', 'ca_id']).orderBy('ca_id');
    if (hostnameIds) {
      if (hostnameIds.length === 0) return new Map();
      query = query.where('hostname_id', 'in', hostnameIds);
    }
    const map = new Map<string, string[]>();
    for (const row of await query.execute()) {
      map.set(row.hostname_id, [...(map.get(row.hostname_id) ?? []), row.ca_id]);
    }
    return map;
  }

  async delete(id: string): Promise<number> {
    await this.db.deleteFrom('hostname_cas').where('hostname_id', '=', id).execute();
    const res = await this.db.deleteFrom('hostnames').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

export class AttachedCrls {
  constructor(private readonly db: Kysely<Database>) {}

  async put(crl: AttachedCrl): Promise<void> {
    await this.db
      .insertInto('attached_crls')
      .values(crl)
      .onConflict((oc) =>
        oc.column('ca_id').doUpdateSet({
          issuer_fingerprint_sha256: crl.issuer_fingerprint_sha256,
          der_base64: crl.der_base64,
          this_update: crl.this_update,
          next_update: crl.next_update,
          revoked_count: crl.revoked_count,
          attached_at: crl.attached_at,
        }),
      )
      .execute();
  }

  async get(caId: string): Promise<AttachedCrl | undefined> {
    return this.db.selectFrom('attached_crls').selectAll().where('ca_id', '=', caId).executeTakeFirst();
  }

  async all(): Promise<AttachedCrl[]> {
    return this.db.selectFrom('attached_crls').selectAll().execute();
  }

  async delete(caId: string): Promise<number> {
    const res = await this.db.deleteFrom('attached_crls').where('ca_id', '=', caId).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

/**
 * A counter bumped by every write that changes what the edge enforces. Edges poll it (one tiny
 * query per interval, never per request) and reload their snapshot when it moves.
 */
export class ConfigVersion {
  constructor(
    private readonly db: Kysely<Database>,
    /** posture_version: the same kind of counter for posture statuses, polled apart. */
    private readonly table: 'config_version' | 'posture_version' = 'config_version',
  ) {}

  async bump(): Promise<void> {
    await this.db
      .updateTable(this.table)
      .set((eb) => ({ version: eb('version', '+', 1) }))
      .where('id', '=', 1)
      .execute();
  }

  async current(): Promise<number> {
    const row = await this.db
      .selectFrom(this.table)
      .select('version')
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
    return Number(row.version);
  }
}

// ---- JSON columns ----
// A column holding JSON is decoded here, once, into the row type the rest of the code uses, and
// encoded here on the way in: nothing outside the store parses what the store wrote.

/** A JSON column as written by `encodeJson`. */
const decodeJson = <T>(text: string): T => JSON.parse(text) as T;
const encodeJson = (value: unknown): string => JSON.stringify(value);
/** For a column whose damage must stay local (one app failing closed, not every snapshot load). */
const decodeJsonOrNull = <T>(text: string): T | null => {
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
};

const accessAppFromRow = (row: Selectable<AccessAppTable>): AccessApp => ({
  ...row,
  policies: decodeJsonOrNull<object[]>(row.policies),
  allowed_idps: decodeJson<string[]>(row.allowed_idps),
});
const accessAppToRow = (app: AccessApp): Selectable<AccessAppTable> => ({
  ...app,
  policies: encodeJson(app.policies),
  allowed_idps: encodeJson(app.allowed_idps),
});

const identityProviderFromRow = (row: Selectable<IdentityProviderTable>): IdentityProvider => ({
  ...row,
  scopes: decodeJson<IdentityProvider['scopes']>(row.scopes),
  claims: decodeJson<IdentityProvider['claims']>(row.claims),
});
const identityProviderToRow = (idp: IdentityProvider): Selectable<IdentityProviderTable> => ({
  ...idp,
  scopes: encodeJson(idp.scopes),
  claims: encodeJson(idp.claims),
});

const registrationFromRow = (row: Selectable<RegistrationTable>): Registration => ({
  ...row,
  enrolled_identity:
    row.enrolled_identity === null ? null : decodeJson<StoredIdentity>(row.enrolled_identity),
});

const deviceLoginFromRow = (row: Selectable<DeviceLoginTable>): DeviceLogin => ({
  ...row,
  request: decodeJson<object>(row.request),
  identity: row.identity === null ? null : decodeJson<StoredIdentity>(row.identity),
});

const sessionRevocationFromRow = (row: Selectable<SessionRevocationTable>): SessionRevocation => ({
  ...row,
  certificates: row.certificates === null ? null : decodeJson<string[]>(row.certificates),
});

const hostnameFromRow = (row: Selectable<HostnameTable>): Hostname => ({
  ...row,
  client_auth: decodeJson<Hostname['client_auth']>(row.client_auth),
});
const hostnameToRow = (hostname: Hostname): Selectable<HostnameTable> => ({
  ...hostname,
  client_auth: encodeJson(hostname.client_auth),
});

const signingKeyFromRow = (row: Selectable<SigningKeyTable>): SigningKey => ({
  ...row,
  public_jwk: decodeJson<SigningKey['public_jwk']>(row.public_jwk),
});
const signingKeyToRow = (key: SigningKey): Selectable<SigningKeyTable> => ({
  ...key,
  public_jwk: encodeJson(key.public_jwk),
});

const postureRuleFromRow = (row: Selectable<PostureRuleTable>): PostureRuleRow => ({
  ...row,
  match: decodeJson<PostureRuleRow['match']>(row.match),
  input: decodeJson<PostureRuleRow['input']>(row.input),
});
const postureRuleToRow = (rule: PostureRuleRow): Selectable<PostureRuleTable> => ({
  ...rule,
  match: encodeJson(rule.match),
  input: encodeJson(rule.input),
});

const postureResultFromRow = (row: Selectable<PostureResultTable>): PostureResultRow => ({
  ...row,
  reasons: decodeJson<PostureResultRow['reasons']>(row.reasons),
  certificate: row.certificate === null ? null : decodeJson<StoredCertificateSummary>(row.certificate),
});

const auditEntryFromRow = (row: Selectable<AuditLogTable>): AuditEntry => ({
  ...row,
  before: row.before === null ? null : decodeJson<Record<string, unknown>>(row.before),
  after: row.after === null ? null : decodeJson<Record<string, unknown>>(row.after),
});

export class AccessApps {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(app: AccessApp): Promise<void> {
    await this.db.insertInto('access_apps').values(accessAppToRow(app)).execute();
  }

  async update(app: AccessApp): Promise<void> {
    const { id, created_at: _created, aud: _aud, ...rest } = accessAppToRow(app);
    await this.db.updateTable('access_apps').set(rest).where('id', '=', id).execute();
  }

  async get(id: string): Promise<AccessApp | undefined> {
    const row = await this.db.selectFrom('access_apps').selectAll().where('id', '=', id).executeTakeFirst();
    return row && accessAppFromRow(row);
  }

  async byDomain(hostname: string, pathPrefix: string): Promise<AccessApp | undefined> {
    const row = await this.db
      .selectFrom('access_apps')
      .selectAll()
      .where('hostname', '=', hostname)
      .where('path_prefix', '=', pathPrefix)
      .executeTakeFirst();
    return row && accessAppFromRow(row);
  }

  async all(): Promise<AccessApp[]> {
    const rows = await this.db
      .selectFrom('access_apps')
      .selectAll()
      .orderBy('hostname')
      .orderBy('path_prefix')
      .execute();
    return rows.map(accessAppFromRow);
  }

  async delete(id: string): Promise<number> {
    const res = await this.db.deleteFrom('access_apps').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

export class ServiceTokens {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(token: ServiceToken): Promise<void> {
    await this.db.insertInto('service_tokens').values(token).execute();
  }

  async get(id: string): Promise<ServiceToken | undefined> {
    return this.db.selectFrom('service_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async all(): Promise<ServiceToken[]> {
    return this.db.selectFrom('service_tokens').selectAll().orderBy('created_at').execute();
  }

  async rotate(id: string, secretHash: string, at: string): Promise<number> {
    const res = await this.db
      .updateTable('service_tokens')
      .set({ secret_hash: secretHash, rotated_at: at })
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  async delete(id: string): Promise<number> {
    const res = await this.db.deleteFrom('service_tokens').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

export class SigningKeys {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(key: SigningKey): Promise<void> {
    await this.db.insertInto('signing_keys').values(signingKeyToRow(key)).execute();
  }

  async all(): Promise<SigningKey[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
    return rows.map(signingKeyFromRow);
  }

  /** Demotes every active key, setting when it stops verifying. */
  async deactivateAll(retireAfter: string): Promise<void> {
    await this.db
      .updateTable('signing_keys')
      .set({ active: 0, retire_after: retireAfter })
      .where('active', '=', 1)
      .execute();
  }

  async deleteRetired(now: string): Promise<void> {
    await this.db.deleteFrom('signing_keys').where('retire_after', '<', now).execute();
  }
}

export class IdentityProviders {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(idp: IdentityProvider): Promise<void> {
    await this.db.insertInto('identity_providers').values(identityProviderToRow(idp)).execute();
  }

  async update(idp: IdentityProvider): Promise<void> {
    const { id, created_at: _created, ...rest } = identityProviderToRow(idp);
    await this.db.updateTable('identity_providers').set(rest).where('id', '=', id).execute();
  }

  async get(id: string): Promise<IdentityProvider | undefined> {
    const row = await this.db
      .selectFrom('identity_providers')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && identityProviderFromRow(row);
  }

  async all(): Promise<IdentityProvider[]> {
    const rows = await this.db.selectFrom('identity_providers').selectAll().orderBy('created_at').execute();
    return rows.map(identityProviderFromRow);
  }

  async delete(id: string): Promise<number> {
    const res = await this.db.deleteFrom('identity_providers').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

export class Settings {
  constructor(private readonly db: Kysely<Database>) {}

  async get(): Promise<OrganizationSettings> {
    return this.db
      .selectFrom('organization_settings')
      .selectAll()
      .where('id', '=', 1)
      .executeTakeFirstOrThrow();
  }

  async update(values: Omit<OrganizationSettings, 'id'>): Promise<void> {
    await this.db.updateTable('organization_settings').set(values).where('id', '=', 1).execute();
  }
}

export class Devices {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(device: Device): Promise<void> {
    await this.db.insertInto('devices').values(device).execute();
  }

  async update(device: Device): Promise<void> {
    const { id, created_at: _created, ...rest } = device;
    await this.db.updateTable('devices').set(rest).where('id', '=', id).execute();
  }

  async get(id: string): Promise<Device | undefined> {
    return this.db.selectFrom('devices').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async bySerial(serial: string): Promise<Device | undefined> {
    return this.db.selectFrom('devices').selectAll().where('serial_number', '=', serial).executeTakeFirst();
  }

  async all(): Promise<Device[]> {
    return this.db.selectFrom('devices').selectAll().orderBy('created_at', 'desc').execute();
  }

  async touch(id: string, at: string): Promise<void> {
    await this.db.updateTable('devices').set({ last_seen_at: at }).where('id', '=', id).execute();
  }
}

export class Registrations {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(registration: NewRegistration): Promise<void> {
    const { enrolled_identity: identity } = registration;
    await this.db
      .insertInto('registrations')
      .values({ ...registration, enrolled_identity: identity === null ? null : encodeJson(identity) })
      .execute();
  }

  async get(id: string): Promise<Registration | undefined> {
    const row = await this.db.selectFrom('registrations').selectAll().where('id', '=', id).executeTakeFirst();
    return row && registrationFromRow(row);
  }

  async byTokenHash(hash: string): Promise<Registration | undefined> {
    const row = await this.db
      .selectFrom('registrations')
      .selectAll()
      .where('token_hash', '=', hash)
      .executeTakeFirst();
    return row && registrationFromRow(row);
  }

  async activeFor(deviceId: string): Promise<Registration[]> {
    const rows = await this.db
      .selectFrom('registrations')
      .selectAll()
      .where('device_id', '=', deviceId)
      .where('status', '=', 'active')
      .execute();
    return rows.map(registrationFromRow);
  }

  async all(): Promise<Registration[]> {
    const rows = await this.db
      .selectFrom('registrations')
      .selectAll()
      .orderBy('created_at', 'desc')
      .execute();
    return rows.map(registrationFromRow);
  }

  /** The active registration whose current certificate is `certificateId`, if any. */
  async activeByCertificate(certificateId: string): Promise<Registration | undefined> {
    const row = await this.db
      .selectFrom('registrations')
      .selectAll()
      .where('certificate_id', '=', certificateId)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return row && registrationFromRow(row);
  }

  /**
   * Whether a device key (SPKI SHA-256) is barred from new certificates: a registration with it
   * was revoked, or its current certificate was revoked other than by renewal or replacement.
   */
  async keyRevoked(publicKeySha256: string): Promise<boolean> {
    const row = await this.db
      .selectFrom('registrations')
      .leftJoin('client_certificates', 'client_certificates.id', 'registrations.certificate_id')
      .select('registrations.id')
      .where('registrations.public_key_sha256', '=', publicKeySha256)
      .where((eb) =>
        eb.or([
          eb('registrations.status', '=', 'revoked'),
          eb.and([
            eb('client_certificates.status', '=', 'revoked'),
            eb('client_certificates.revocation_reason', '!=', 'superseded'),
          ]),
        ]),
      )
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * The assurance level of every active registration by its current certificate's fingerprint,
   * while that certificate is active: what the edge loads into memory for device_assurance
   * rules (an ended registration, or a revoked certificate, is simply absent).
   */
  async activeAssurances(): Promise<{ certificate_fingerprint: string; assurance: DeviceAssurance }[]> {
    return this.db
      .selectFrom('registrations')
      .innerJoin('client_certificates', 'client_certificates.id', 'registrations.certificate_id')
      .select([
        'registrations.certificate_fingerprint as certificate_fingerprint',
        'registrations.assurance as assurance',
      ])
      .where('registrations.status', '=', 'active')
      .where('registrations.certificate_fingerprint', 'is not', null)
      .where('client_certificates.status', '=', 'active')
      .execute() as Promise<{ certificate_fingerprint: string; assurance: DeviceAssurance }[]>;
  }

  async end(id: string, status: Exclude<RegistrationStatus, 'active'>, at: string): Promise<boolean> {
    const res = await this.db
      .updateTable('registrations')
      .set({ status, ended_at: at })
      .where('id', '=', id)
      .where('status', '=', 'active')
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async setCertificate(id: string, certificateId: string, fingerprint: string): Promise<void> {
    await this.db
      .updateTable('registrations')
      .set({ certificate_id: certificateId, certificate_fingerprint: fingerprint })
      .where('id', '=', id)
      .execute();
  }

  async touch(id: string, at: string): Promise<void> {
    await this.db.updateTable('registrations').set({ last_seen_at: at }).where('id', '=', id).execute();
  }
}

export class PostureRules {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(rule: PostureRuleRow): Promise<void> {
    await this.db.insertInto('posture_rules').values(postureRuleToRow(rule)).execute();
  }

  async update(rule: PostureRuleRow): Promise<void> {
    const { id, created_at: _created, ...rest } = postureRuleToRow(rule);
    await this.db.updateTable('posture_rules').set(rest).where('id', '=', id).execute();
  }

  async get(id: string): Promise<PostureRuleRow | undefined> {
    const row = await this.db.selectFrom('posture_rules').selectAll().where('id', '=', id).executeTakeFirst();
    return row && postureRuleFromRow(row);
  }

  async all(): Promise<PostureRuleRow[]> {
    const rows = await this.db
      .selectFrom('posture_rules')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(postureRuleFromRow);
  }

  /** Deletes the rule and its current statuses (its logged results stay). */
  async delete(id: string): Promise<number> {
    await this.db.deleteFrom('posture_status').where('rule_id', '=', id).execute();
    const res = await this.db.deleteFrom('posture_rules').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

export interface PostureLogFilter {
  deviceId?: string;
  ruleId?: string;
  success?: boolean;
  /** ISO-8601 bounds on reported_at: from inclusive, to exclusive. */
  from?: string;
  to?: string;
}

export interface PassingPosture {
  certificate_fingerprint: string;
  rule_id: string;
  expires_at: string | null;
}

export class PostureResults {
  constructor(private readonly db: Kysely<Database>) {}

  /** Logs a result and makes it the current status of its device and rule. */
  async record(result: NewPostureResult): Promise<void> {
    await this.db
      .insertInto('posture_results')
      .values({
        ...result,
        reasons: encodeJson(result.reasons),
        certificate: result.certificate === null ? null : encodeJson(result.certificate),
      })
      .execute();
    const status: PostureStatusRow = {
      device_id: result.device_id,
      rule_id: result.rule_id,
      registration_id: result.registration_id,
      result_id: result.id,
      success: result.success,
      reported_at: result.reported_at,
      expires_at: result.expires_at ?? null,
    };
    await this.db
      .insertInto('posture_status')
      .values(status)
      .onConflict((oc) =>
        oc.columns(['device_id', 'rule_id']).doUpdateSet({
          registration_id: status.registration_id,
          result_id: status.result_id,
          success: status.success,
          reported_at: status.reported_at,
          expires_at: status.expires_at,
        }),
      )
      .execute();
  }

  async list(filter: PostureLogFilter, page: Page): Promise<PageResult<PostureResultRow>> {
    let query = this.db.selectFrom('posture_results');
    if (filter.deviceId) query = query.where('device_id', '=', filter.deviceId);
    if (filter.ruleId) query = query.where('rule_id', '=', filter.ruleId);
    if (filter.success !== undefined) query = query.where('success', '=', filter.success ? 1 : 0);
    if (filter.from) query = query.where('reported_at', '>=', filter.from);
    if (filter.to) query = query.where('reported_at', '<', filter.to);
    const [rows, count] = await Promise.all([
      query.selectAll().orderBy('seq', 'desc').limit(page.perPage).offset(offsetOf(page)).execute(),
      query.select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(postureResultFromRow), total: Number(count.n) };
  }

  /** Drops every device's current status for a rule (its logged results stay). */
  async forgetRule(ruleId: string): Promise<void> {
    await this.db.deleteFrom('posture_status').where('rule_id', '=', ruleId).execute();
  }

  /** Current statuses of one device. */
  async statusFor(deviceId: string): Promise<PostureStatusRow[]> {
    return this.db.selectFrom('posture_status').selectAll().where('device_id', '=', deviceId).execute();
  }

  /**
   * Passing, unexpired statuses of active hardware-backed registrations, keyed by the
   * registration certificate's fingerprint: what the edge loads into memory.
   */
  async passing(now: string): Promise<PassingPosture[]> {
    return (
      this.db
        .selectFrom('posture_status')
        .innerJoin('registrations', 'registrations.id', 'posture_status.registration_id')
        .select([
          'registrations.certificate_fingerprint as certificate_fingerprint',
          'posture_status.rule_id as rule_id',
          'posture_status.expires_at as expires_at',
        ])
        // The registration's current certificate must still be good: a revoked one's results stop
        // counting even before the registration is ended.
        .innerJoin('client_certificates', 'client_certificates.id', 'registrations.certificate_id')
        .where('posture_status.success', '=', 1)
        .where('registrations.status', '=', 'active')
        .where('registrations.certificate_fingerprint', 'is not', null)
        .where('client_certificates.status', '=', 'active')
        .where((eb) =>
          eb.or([eb('posture_status.expires_at', 'is', null), eb('posture_status.expires_at', '>', now)]),
        )
        .execute() as Promise<PassingPosture[]>
    );
  }
}

export class PostureNonces {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(nonce: string, registrationId: string, expiresAt: string): Promise<void> {
    await this.db
      .insertInto('posture_nonces')
      .values({ nonce, registration_id: registrationId, expires_at: expiresAt })
      .execute();
  }

  /** Uses a nonce up: true once, for its registration, before it expires; expired ones are purged. */
  async consume(nonce: string, registrationId: string, now: string): Promise<boolean> {
    await this.db.deleteFrom('posture_nonces').where('expires_at', '<=', now).execute();
    const res = await this.db
      .deleteFrom('posture_nonces')
      .where('nonce', '=', nonce)
      .where('registration_id', '=', registrationId)
      .executeTakeFirst();
    return Number(res.numDeletedRows) === 1;
  }
}

export class DeviceLogins {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(login: DeviceLogin): Promise<void> {
    await this.db
      .insertInto('device_logins')
      .values({
        ...login,
        request: encodeJson(login.request),
        identity: login.identity === null ? null : encodeJson(login.identity),
      })
      .execute();
  }

  async byDeviceCodeHash(hash: string): Promise<DeviceLogin | undefined> {
    const row = await this.db
      .selectFrom('device_logins')
      .selectAll()
      .where('device_code_hash', '=', hash)
      .executeTakeFirst();
    return row && deviceLoginFromRow(row);
  }

  async byUserCodeHash(hash: string): Promise<DeviceLogin | undefined> {
    const row = await this.db
      .selectFrom('device_logins')
      .selectAll()
      .where('user_code_hash', '=', hash)
      .executeTakeFirst();
    return row && deviceLoginFromRow(row);
  }

  async get(id: string): Promise<DeviceLogin | undefined> {
    const row = await this.db.selectFrom('device_logins').selectAll().where('id', '=', id).executeTakeFirst();
    return row && deviceLoginFromRow(row);
  }

  /** pending → approved/denied, only while pending and unexpired; false otherwise. */
  async decide(
    id: string,
    status: 'approved' | 'denied',
    identity: StoredIdentity | null,
    now: string,
  ): Promise<boolean> {
    const res = await this.db
      .updateTable('device_logins')
      .set({ status, identity: identity === null ? null : encodeJson(identity) })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .where('expires_at', '>', now)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1;
  }

  async polled(id: string, at: string, intervalS: number): Promise<void> {
    await this.db
      .updateTable('device_logins')
      .set({ last_polled_at: at, interval_s: intervalS })
      .where('id', '=', id)
      .execute();
  }

  /** Deletes the row (its codes are used up); `status` makes it conditional. False when nothing went. */
  async delete(id: string, status?: DeviceLogin['status']): Promise<boolean> {
    let query = this.db.deleteFrom('device_logins').where('id', '=', id);
    if (status) query = query.where('status', '=', status);
    return Number((await query.executeTakeFirst()).numDeletedRows) === 1;
  }

  async deleteExpired(now: string): Promise<number> {
    const res = await this.db.deleteFrom('device_logins').where('expires_at', '<=', now).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

export interface AuditFilter {
  resourceId?: string;
  action?: string;
}

export class AuditLog {
  constructor(private readonly db: Kysely<Database>) {}

  async append(entry: NewAuditEntry): Promise<void> {
    await this.db
      .insertInto('audit_log')
      .values({
        ...entry,
        before: entry.before === null ? null : encodeJson(entry.before),
        after: entry.after === null ? null : encodeJson(entry.after),
      })
      .execute();
  }

  async list(filter: AuditFilter, page: Page): Promise<PageResult<AuditEntry>> {
    let query = this.db.selectFrom('audit_log');
    if (filter.resourceId) query = query.where('resource_id', '=', filter.resourceId);
    if (filter.action) query = query.where('action', '=', filter.action);
    const [rows, count] = await Promise.all([
      query.selectAll().orderBy('seq', 'desc').limit(page.perPage).offset(offsetOf(page)).execute(),
      query.select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow(),
    ]);
    return { items: rows.map(auditEntryFromRow), total: Number(count.n) };
  }
}

export class SessionRevocations {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: SessionRevocation): Promise<void> {
    await this.db
      .insertInto('session_revocations')
      .values({ ...row, certificates: row.certificates === null ? null : encodeJson(row.certificates) })
      .execute();
  }

  /** Revocations at or after `since` (older ones can match no unexpired session), newest first. */
  async since(since: string): Promise<SessionRevocation[]> {
    const rows = await this.db
      .selectFrom('session_revocations')
      .selectAll()
      .where('revoked_at', '>=', since)
      .orderBy('revoked_at', 'desc')
      .execute();
    return rows.map(sessionRevocationFromRow);
  }
}

/**
 * Serializes writers across every node on one database: a PostgreSQL transaction-scoped advisory
 * lock (released at commit or rollback, also when the connection dies). SQLite has one writer per
 * file; a no-op UPDATE takes that write lock now rather than at the first real write, so a read
 * made after it cannot go stale (two processes sharing one file wait, then see each other's
 * commits). Must be the first statement of a transaction on SQLite.
 */
export class Locks {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
  ) {}

  async acquire(name: string): Promise<void> {
    if (this.dialect === 'postgres') {
      await sql`select pg_advisory_xact_lock(hashtextextended(${`gatehouse:${name}`}, 0))`.execute(this.db);
    } else {
      await this.db.updateTable('config_version').set({ id: 1 }).where('id', '=', -1).execute();
    }
  }
}

export interface Lease {
  name: string;
  holder: string;
  expires_at: string;
}

/**
 * Leases with an expiry (migration 0009): which node runs a kind of background work. A holder
 * renews before expiry; a node that dies stops renewing and another takes over once it lapses.
 */
export class Leases {
  constructor(private readonly db: Kysely<Database>) {}

  /** Takes or renews `name` for `holder` until `expiresAt` when free, lapsed or already ours. */
  async claim(name: string, holder: string, now: string, expiresAt: string): Promise<boolean> {
    await this.db
      .insertInto('leases')
      .values({ name, holder, expires_at: expiresAt })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder, expires_at: expiresAt })
          .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.expires_at', '<', now)])),
      )
      .execute();
    const row = await this.get(name);
    return row?.holder === holder && row.expires_at === expiresAt;
  }

  /** Gives `name` up at once (clean shutdown) so the next node need not wait for the expiry. */
  async release(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  async get(name: string): Promise<Lease | undefined> {
    return this.db.selectFrom('leases').selectAll().where('name', '=', name).executeTakeFirst();
  }
}

/** Answers kept by Idempotency-Key (see src/api/concurrency.ts). */
export class IdempotencyKeys {
  constructor(private readonly db: Kysely<Database>) {}

  async get(id: string): Promise<IdempotencyKey | undefined> {
    return this.db.selectFrom('idempotency_keys').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Claims `id` for a request now running; false when another request holds or answered it. */
  async claim(id: string, requestHash: string, now: string): Promise<boolean> {
    const res = await this.db
      .insertInto('idempotency_keys')
      .values({ id, request_hash: requestHash, status: null, body: null, created_at: now })
      .onConflict((oc) => oc.column('id').doNothing())
      .executeTakeFirst();
    return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async complete(id: string, status: number, body: string): Promise<void> {
    await this.db.updateTable('idempotency_keys').set({ status, body }).where('id', '=', id).execute();
  }

  async forget(id: string): Promise<void> {
    await this.db.deleteFrom('idempotency_keys').where('id', '=', id).execute();
  }

  async deleteOlderThan(before: string): Promise<void> {
    await this.db.deleteFrom('idempotency_keys').where('created_at', '<', before).execute();
  }
}

export class Repositories {
  readonly locks: Locks;
  readonly idempotencyKeys: IdempotencyKeys;
  readonly leases: Leases;
  readonly organizations: Organizations;
  readonly authorities: CertificateAuthorities;
  readonly crls: Crls;
  readonly clientCertificates: ClientCertificates;
  readonly tlsIdentities: TlsIdentities;
  readonly apiTokens: ApiTokens;
  readonly audit: AuditLog;
  readonly hostnames: Hostnames;
  readonly attachedCrls: AttachedCrls;
  readonly revokedSerials: RevokedSerials;
  readonly configVersion: ConfigVersion;
  readonly accessApps: AccessApps;
  readonly serviceTokens: ServiceTokens;
  readonly signingKeys: SigningKeys;
  readonly identityProviders: IdentityProviders;
  readonly settings: Settings;
  readonly devices: Devices;
  readonly registrations: Registrations;
  readonly deviceLogins: DeviceLogins;
  readonly postureRules: PostureRules;
  readonly postureResults: PostureResults;
  readonly postureNonces: PostureNonces;
  readonly postureVersion: ConfigVersion;
  readonly sessionRevocations: SessionRevocations;
  readonly tpmEkCas: TpmEkCas;
  readonly tpmEkPins: TpmEkPins;
  readonly tpmAttestations: TpmAttestations;

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.locks = new Locks(db, dialect);
    this.idempotencyKeys = new IdempotencyKeys(db);
    this.leases = new Leases(db);
    this.organizations = new Organizations(db);
    this.authorities = new CertificateAuthorities(db);
    this.crls = new Crls(db);
    this.clientCertificates = new ClientCertificates(db);
    this.tlsIdentities = new TlsIdentities(db);
    this.apiTokens = new ApiTokens(db);
    this.audit = new AuditLog(db);
    this.hostnames = new Hostnames(db);
    this.attachedCrls = new AttachedCrls(db);
    this.revokedSerials = new RevokedSerials(db);
    this.configVersion = new ConfigVersion(db);
    this.accessApps = new AccessApps(db);
    this.serviceTokens = new ServiceTokens(db);
    this.signingKeys = new SigningKeys(db);
    this.identityProviders = new IdentityProviders(db);
    this.settings = new Settings(db);
    this.devices = new Devices(db);
    this.registrations = new Registrations(db);
    this.deviceLogins = new DeviceLogins(db);
    this.postureRules = new PostureRules(db);
    this.postureResults = new PostureResults(db);
    this.postureNonces = new PostureNonces(db);
    this.postureVersion = new ConfigVersion(db, 'posture_version');
    this.sessionRevocations = new SessionRevocations(db);
    this.tpmEkCas = new TpmEkCas(db);
    this.tpmEkPins = new TpmEkPins(db);
    this.tpmAttestations = new TpmAttestations(db);
  }
}
