import { GatehouseError } from '../../errors/index.js';
import { isRecord, type OidcHttpOptions, requestJson } from './http.js';
import { parseIdpUrl } from './schema.js';

/** The parts of an OpenID Provider's discovery document that Gatehouse uses, validated. */
export interface OidcMetadata {
  /** Equal, character for character, to the configured issuer. */
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  /** RFC 8628, for device registration. */
  device_authorization_endpoint?: string;
  end_session_endpoint?: string;
  /** Defaults to ['client_secret_basic'] when the IdP does not say (OIDC Discovery §3). */
  token_endpoint_auth_methods_supported: string[];
  id_token_signing_alg_values_supported?: string[];
  code_challenge_methods_supported?: string[];
  grant_types_supported?: string[];
  /** RFC 9207: the IdP adds `iss` to its authorization responses. */
  authorization_response_iss_parameter_supported: boolean;
  /** The whole document, as fetched. */
  raw: Record<string, unknown>;
}

export interface DiscoverOptions extends OidcHttpOptions {
  /** Where validated documents are kept; defaults to a process-wide cache, `false` for none. */
  cache?: MetadataCache | false;
  /** How long a validated document is reused. Default 1 hour. */
  ttlMs?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export const DISCOVERY_TTL_MS = 60 * 60 * 1000;

/**
 * Discovery documents by issuer, each with an expiry. Concurrent look-ups of the same issuer share
 * one request; failures are not cached.
 */
export class MetadataCache {
  private readonly entries = new Map<string, { expires: number; metadata: OidcMetadata }>();
  private readonly pending = new Map<string, Promise<OidcMetadata>>();

  get(issuer: string, now: number): OidcMetadata | undefined {
    const entry = this.entries.get(issuer);
    if (!entry) return undefined;
    if (entry.expires <= now) {
      this.entries.delete(issuer);
      return undefined;
    }
    return entry.metadata;
  }

  set(issuer: string, metadata: OidcMetadata, expires: number): void {
    this.entries.set(issuer, { expires, metadata });
  }

  /** Forgets an issuer (e.g. after its configuration changed, or its keys stopped verifying). */
  delete(issuer: string): void {
    this.entries.delete(issuer);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Runs `load` unless a load of the same issuer is already under way. */
  dedupe(issuer: string, load: () => Promise<OidcMetadata>): Promise<OidcMetadata> {
    const running = this.pending.get(issuer);
    if (running) return running;
    const p = load().finally(() => this.pending.delete(issuer));
    this.pending.set(issuer, p);
    return p;
  }
}

const defaultCache = new MetadataCache();

/** `${issuer}/.well-known/openid-configuration`, the issuer's path kept (OIDC Discovery §4). */
export function discoveryUrl(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
}

/**
 * Fetches and validates the issuer's discovery document. The document's `issuer` must equal the
 * configured one exactly; the authorization, token and JWKS endpoints must be present and https
 * (http only on loopback hosts); an IdP that advertises PKCE methods must offer S256 and one that
 * advertises response types must offer `code`. Anything else is GatehouseError
 * `oidc_discovery_failed` (502).
 */
export async function discover(issuer: string, opts: DiscoverOptions = {}): Promise<OidcMetadata> {
  const now = opts.now ?? Date.now;
  const cache = opts.cache === undefined ? defaultCache : opts.cache;
  if (cache) {
    const hit = cache.get(issuer, now());
    if (hit) return hit;
    return cache.dedupe(issuer, async () => {
      const metadata = await fetchMetadata(issuer, opts);
      cache.set(issuer, metadata, now() + (opts.ttlMs ?? DISCOVERY_TTL_MS));
      return metadata;
    });
  }
  return fetchMetadata(issuer, opts);
}

async function fetchMetadata(issuer: string, opts: OidcHttpOptions): Promise<OidcMetadata> {
  const fail = (message: string) =>
    new GatehouseError('oidc_discovery_failed', `OIDC discovery for ${issuer}: ${message}`, 502);
  if (!parseIdpUrl(issuer)) throw fail('the issuer must be https (http only for loopback hosts)');
  const url = discoveryUrl(issuer);
  const res = await requestJson(
    url,
    { method: 'GET' },
    { ...opts, code: 'oidc_discovery_failed', what: `OIDC discovery for ${issuer}` },
  );
  if (res.status !== 200) throw fail(`${url} answered HTTP ${res.status}`);
  if (!isRecord(res.json)) throw fail(`${url} did not return a JSON object`);
  return validateMetadata(issuer, res.json, fail);
}

function validateMetadata(
  issuer: string,
  doc: Record<string, unknown>,
  fail: (message: string) => GatehouseError,
): OidcMetadata {
  if (doc.issuer !== issuer) {
    throw fail(
      `the document's issuer ${JSON.stringify(doc.issuer)} is not the configured issuer (they must match exactly)`,
    );
  }
  const endpoint = (name: string, required: boolean): string | undefined => {
    const value = doc[name];
    if (value === undefined || value === null) {
      if (required) throw fail(`${name} is missing`);
      return undefined;
    }
    if (!parseIdpUrl(value)) throw fail(`${name} must be an https URL (http only for loopback hosts)`);
    return value as string;
  };
  const strings = (name: string): string[] | undefined => {
    const value = doc[name];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw fail(`${name} must be an array of strings`);
    }
    return value as string[];
  };

  const responseTypes = strings('response_types_supported');
  if (responseTypes && !responseTypes.includes('code')) {
    throw fail("the IdP does not support response_type 'code'");
  }
  const pkce = strings('code_challenge_methods_supported');
  if (pkce && !pkce.includes('S256')) throw fail('the IdP does not support PKCE with S256');

  const metadata: OidcMetadata = {
    issuer,
    authorization_endpoint: endpoint('authorization_endpoint', true) as string,
    token_endpoint: endpoint('token_endpoint', true) as string,
    jwks_uri: endpoint('jwks_uri', true) as string,
    token_endpoint_auth_methods_supported: strings('token_endpoint_auth_methods_supported') ?? [
      'client_secret_basic',
    ],
    authorization_response_iss_parameter_supported:
      doc.authorization_response_iss_parameter_supported === true,
    raw: doc,
  };
  const optional = {
    userinfo_endpoint: endpoint('userinfo_endpoint', false),
    device_authorization_endpoint: endpoint('device_authorization_endpoint', false),
    end_session_endpoint: endpoint('end_session_endpoint', false),
    id_token_signing_alg_values_supported: strings('id_token_signing_alg_values_supported'),
    code_challenge_methods_supported: pkce,
    grant_types_supported: strings('grant_types_supported'),
  };
  for (const [k, v] of Object.entries(optional)) {
    if (v !== undefined) Object.assign(metadata, { [k]: v });
  }
  return metadata;
}
