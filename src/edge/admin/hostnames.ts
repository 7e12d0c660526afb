import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import {
  type Actor,
  type Clock,
  type Keys,
  ORG_CA_ID,
  recordChange,
  type ServerCertificateIssuer,
  type TlsMaterial,
} from '../../authority/index.js';
import { badRequest, conflict, notFound } from '../../errors/index.js';
import { checkRequiredPolicies, parsePem, renewalTime } from '../../pki/index.js';
import {
  type Hostname,
  isUniqueViolation,
  type PageResult,
  type Page,
  type StoreFor,
} from '../../store/index.js';
import {
  type BlockResponse,
  type ClientAuthInput,
  DEFAULT_FORWARD,
  type StoredClientAuth,
} from '../client-auth.js';

export interface HostnameInput {
  hostname: string;
  origin: string;
  tls?: { certificate: string; private_key: string };
  client_auth: ClientAuthInput;
}

export interface HostnameRecord {
  row: Hostname;
  caIds: string[];
  clientAuth: StoredClientAuth;
}

const DNS_NAME =
  /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const MAX_BLOCK_JSON_BYTES = 65_536;

/** Lower-cased, validated hostname (what SNI and Host are compared against). */
export function normalizeHostname(name: string): string {
  const h = name.trim().toLowerCase().replace(/\.$/, '');
  if (!DNS_NAME.test(h) || /^\d+(\.\d+){3}$/.test(h)) {
    throw badRequest(
      'invalid_hostname',
      `"${name}" is not a DNS hostname (letters, digits, hyphens, dots; no wildcard, no IP)`,
    );
  }
  return h;
}

export function normalizeOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw badRequest(
      'invalid_origin',
      `origin "${origin}" is not a URL (expected e.g. http://127.0.0.1:9000)`,
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw badRequest('invalid_origin', 'origin must be http:// or https://');
  if (
    url.username ||
    url.password ||
    url.search ||
    url.hash ||
    (url.pathname !== '/' && url.pathname !== '')
  ) {
    throw badRequest(
      'invalid_origin',
      'origin must be scheme://host[:port] with no path, query, credentials or fragment',
    );
  }
  return url.origin;
}

/** Checks an admin-supplied server certificate: it parses, matches its key, covers the hostname and is current. */
function checkCustomTls(hostname: string, tls: { certificate: string; private_key: string }, now: Date) {
  const ders = parsePem(tls.certificate, 'CERTIFICATE');
  const [leafDer, ...chainDers] = ders;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(leafDer as Buffer);
  } catch (err) {
    throw badRequest(
      'invalid_certificate',
      'tls.certificate: the first certificate does not parse as X.509',
      err,
    );
  }
  let key;
  try {
    key = createPrivateKey(tls.private_key);
  } catch (err) {
    throw badRequest('invalid_private_key', 'tls.private_key: not a PEM private key', err);
  }
  if (!leaf.checkPrivateKey(key))
    throw badRequest('key_mismatch', 'tls.private_key does not match tls.certificate');
  if (!leaf.checkHost(hostname))
    throw badRequest('certificate_hostname_mismatch', `tls.certificate is not valid for ${hostname}`);
  if (new Date(leaf.validTo) <= now)
    throw badRequest('certificate_expired', `tls.certificate expired on ${leaf.validTo}`);
  const pem = (der: Buffer) => new X509Certificate(der).toString();
  return {
    certificatePem: leaf.toString(),
    chainPem: chainDers.map(pem).join(''),
    privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

function checkBlock(block: BlockResponse | undefined): BlockResponse {
  if (block?.json !== undefined && Buffer.byteLength(JSON.stringify(block.json)) > MAX_BLOCK_JSON_BYTES) {
    throw badRequest(
      'invalid_block_response',
      `block_response.json is larger than ${MAX_BLOCK_JSON_BYTES} bytes`,
    );
  }
  return block ?? {};
}

/**
 * Hostnames the edge serves: validation, server certificates (issued by the org CA unless the
 * admin brings one), CA associations, and the config-version bump that makes running edges
 * reload, all in one transaction per change.
 */
/** A unique-index violation on the name (a concurrent create or rename, maybe on another node) → 409. */
const hostnameClash = (hostname: string) => (err: unknown) => {
  throw isUniqueViolation(err) ? conflict('hostname_exists', `hostname ${hostname} already exists`) : err;
};

export interface HostnameDeps {
  store: StoreFor<'hostnames' | 'authorities'>;
  keys: Pick<Keys, 'sealKey'>;
  now: Clock;
  /** The org CA, for the server certificates it issues. */
  certificates: ServerCertificateIssuer;
}

export class HostnameService {
  constructor(private readonly deps: HostnameDeps) {}

  private get store() {
    return this.deps.store;
  }

  async #caIds(input: ClientAuthInput): Promise<string[]> {
    const ids = [...new Set(input.mtls_certificate_ids)];
    if (input.mode !== 'off' && ids.length === 0) {
      throw badRequest(
        'missing_ca',
        `client_auth.mode "${input.mode}" needs at least one mtls_certificate_ids entry (the org CA is ${ORG_CA_ID})`,
      );
    }
    for (const id of ids) {
      const ca = await this.store.authorities.get(id);
      if (!ca || ca.source === 'org_root')
        throw badRequest('unknown_ca', `mtls_certificate_ids: ${id} is not an uploaded CA or the org CA`);
    }
    return ids;
  }

  #stored(input: ClientAuthInput): StoredClientAuth {
    return {
      mode: input.mode,
      forward: input.forward ?? DEFAULT_FORWARD,
      block_response: checkBlock(input.block_response),
      required_policies: checkRequiredPolicies(input.required_policies, 'client_auth.required_policies'),
    };
  }

  /**
   * The server certificate columns: the admin's own certificate when given, the current org-issued
   * one when the name is unchanged, else a new one from the org CA. Keys are sealed to the row id.
   */
  async #tlsFields(
    id: string,
    hostname: string,
    tls: HostnameInput['tls'],
    now: Date,
    current?: Hostname,
  ): Promise<Pick<Hostname, 'tls_source' | 'certificate_pem' | 'chain_pem' | 'sealed_private_key'>> {
    if (!tls && current?.tls_source === 'org' && current.hostname === hostname) {
      const { tls_source, certificate_pem, chain_pem, sealed_private_key } = current;
      return { tls_source, certificate_pem, chain_pem, sealed_private_key };
    }
    const material = tls
      ? checkCustomTls(hostname, tls, now)
      : await this.deps.certificates.issueServerCertificate(hostname);
    return {
      tls_source: tls ? 'custom' : 'org',
      certificate_pem: material.certificatePem,
      chain_pem: material.chainPem,
      sealed_private_key: this.deps.keys.sealKey(material.privateKeyPem, id),
    };
  }

  async create(input: HostnameInput, actor: Actor): Promise<HostnameRecord> {
    const now = this.deps.now();
    const hostname = normalizeHostname(input.hostname);
    const origin = normalizeOrigin(input.origin);
    const caIds = await this.#caIds(input.client_auth);
    const clientAuth = this.#stored(input.client_auth);
    if (await this.store.hostnames.byName(hostname))
      throw conflict('hostname_exists', `hostname ${hostname} already exists`);
    const id = randomUUID();
    const row: Hostname = {
      id,
      hostname,
      origin,
      ...(await this.#tlsFields(id, hostname, input.tls, now)),
      client_auth: clientAuth,
      created_at: now.toISOString(),
      updated_at: now.toISOString(),
    };
    await this.store.transaction(async (tx) => {
      // The check above is only a friendly early answer: another node can create the same name
      // in between, and then the unique index decides.
      await tx.hostnames.insert(row, caIds).catch(hostnameClash(hostname));
      await recordChange(
        tx,
        {
          actor,
          reload: 'config',
          action: 'hostname.create',
          resourceType: 'hostname',
          resourceId: id,
          before: null,
          after: { hostname, origin, mode: clientAuth.mode, mtls_certificate_ids: caIds },
        },
        now,
      );
    });
    return { row, caIds, clientAuth };
  }

  async update(id: string, input: HostnameInput, actor: Actor): Promise<HostnameRecord> {
    const now = this.deps.now();
    const current = await this.get(id);
    const hostname = normalizeHostname(input.hostname);
    const origin = normalizeOrigin(input.origin);
    const caIds = await this.#caIds(input.client_auth);
    const clientAuth = this.#stored(input.client_auth);
    const clash = await this.store.hostnames.byName(hostname);
    if (clash && clash.id !== id) throw conflict('hostname_exists', `hostname ${hostname} already exists`);
    const row: Hostname = {
      ...current.row,
      hostname,
      origin,
      ...(await this.#tlsFields(id, hostname, input.tls, now, current.row)),
      client_auth: clientAuth,
      updated_at: now.toISOString(),
    };
    await this.store.transaction(async (tx) => {
      await tx.hostnames.update(row, caIds).catch(hostnameClash(hostname));
      await recordChange(
        tx,
        {
          actor,
          reload: 'config',
          action: 'hostname.update',
          resourceType: 'hostname',
          resourceId: id,
          before: {
            hostname: current.row.hostname,
            origin: current.row.origin,
            mode: current.clientAuth.mode,
            mtls_certificate_ids: current.caIds,
          },
          after: { hostname, origin, mode: clientAuth.mode, mtls_certificate_ids: caIds },
        },
        now,
      );
    });
    return { row, caIds, clientAuth };
  }

  async get(id: string): Promise<HostnameRecord> {
    const row = await this.store.hostnames.get(id);
    if (!row) throw notFound('hostname', id);
    const caIds = (await this.store.hostnames.caIds([id])).get(id) ?? [];
    return { row, caIds, clientAuth: row.client_auth as StoredClientAuth };
  }

  async list(page: Page): Promise<PageResult<HostnameRecord>> {
    const { items, total } = await this.store.hostnames.list(page);
    const caIds = await this.store.hostnames.caIds(items.map((r) => r.id));
    return {
      items: items.map((row) => ({
        row,
        caIds: caIds.get(row.id) ?? [],
        clientAuth: row.client_auth as StoredClientAuth,
      })),
      total,
    };
  }

  /**
   * Re-issues the org-issued server certificates whose renewal time has come (a third of their
   * lifetime left), in one transaction with a config-version bump so running edges load them.
   * Admin-supplied certificates are not Gatehouse's to renew: those expiring within `warnDays`
   * are returned so the caller can say so.
   */
  async renewServerCertificates(
    actor: Actor,
    warnDays = 30,
  ): Promise<{ renewed: string[]; customExpiring: { hostname: string; notAfter: string }[] }> {
    const now = this.deps.now();
    const due: { row: Hostname; material: TlsMaterial }[] = [];
    const customExpiring: { hostname: string; notAfter: string }[] = [];
    for (const row of await this.store.hostnames.all()) {
      const certificate = new X509Certificate(row.certificate_pem);
      if (row.tls_source !== 'org') {
        const notAfter = new Date(certificate.validTo);
        if (notAfter.getTime() - now.getTime() < warnDays * 86_400_000)
          customExpiring.push({ hostname: row.hostname, notAfter: notAfter.toISOString() });
        continue;
      }
      if (renewalTime(certificate) > now) continue;
      due.push({ row, material: await this.deps.certificates.issueServerCertificate(row.hostname) });
    }
    const renewed: string[] = [];
    if (due.length === 0) return { renewed, customExpiring };
    await this.store.transaction(async (tx) => {
      for (const { row, material } of due) {
        // Re-read: an admin change since the scan wins (it may have replaced the certificate).
        const fresh = await tx.hostnames.get(row.id);
        if (!fresh || fresh.certificate_pem !== row.certificate_pem) continue;
        const caIds = (await tx.hostnames.caIds([row.id])).get(row.id) ?? [];
        await tx.hostnames.update(
          {
            ...fresh,
            certificate_pem: material.certificatePem,
            chain_pem: material.chainPem,
            sealed_private_key: this.deps.keys.sealKey(material.privateKeyPem, row.id),
            updated_at: now.toISOString(),
          },
          caIds,
        );
        await recordChange(
          tx,
          {
            actor,
            action: 'hostname.certificate.renew',
            resourceType: 'hostname',
            resourceId: row.id,
            before: {
              hostname: row.hostname,
              not_after: new Date(new X509Certificate(row.certificate_pem).validTo).toISOString(),
            },
            after: {
              not_after: new Date(new X509Certificate(material.certificatePem).validTo).toISOString(),
            },
          },
          now,
        );
        renewed.push(row.hostname);
      }
      if (renewed.length > 0) await tx.configVersion.bump();
    });
    return { renewed, customExpiring };
  }

  async delete(id: string, actor: Actor): Promise<void> {
    const now = this.deps.now();
    await this.store.transaction(async (tx) => {
      const row = await tx.hostnames.get(id);
      if (!row) throw notFound('hostname', id);
      await tx.hostnames.delete(id);
      await recordChange(
        tx,
        {
          actor,
          reload: 'config',
          action: 'hostname.delete',
          resourceType: 'hostname',
          resourceId: id,
          before: { hostname: row.hostname, origin: row.origin },
          after: null,
        },
        now,
      );
    });
  }
}
