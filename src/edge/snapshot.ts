import { constants } from 'node:crypto';
import tls, { type SecureContext } from 'node:tls';
import type { AccessSnapshot } from '../access/index.js';
import {
  type AttachedCrlInfo,
  type LegacyAllowances,
  type ParsedCertificate,
  parseAttachedCrl,
  parseCertificate,
} from '../pki/index.js';
import type { AttachedCrl, CertificateAuthority, Hostname } from '../store/index.js';
import {
  type BlockResponse,
  type ClientAuthMode,
  DEFAULT_FORWARD,
  type ForwardConfig,
  type StoredClientAuth,
} from './client-auth.js';
import { strippedHeaders } from './headers.js';

/** One protected hostname, compiled for the data plane: nothing here touches the database. */
export interface HostRuntime {
  id: string;
  hostname: string;
  origin: URL;
  mode: ClientAuthMode;
  forward: ForwardConfig;
  block: BlockResponse;
  secureContext: SecureContext;
  /** The tops of the hostname's CA chains. */
  anchors: ParsedCertificate[];
  /** Every anchor is a self-signed root, so OpenSSL's handshake verdict is conclusive about paths. */
  anchorsSelfSigned: boolean;
  /** The rest of those chains, used to build paths from leaves the client sends alone. */
  intermediates: ParsedCertificate[];
  /** Certificate policy OIDs one of which the path must be valid for (empty: none required). */
  requiredPolicies: readonly string[];
  /** Legacy allowances of the hostname's uploaded CAs, by anchor fingerprint (verifyChain). */
  legacyAllowances: ReadonlyMap<string, LegacyAllowances>;
  /** Lower-case header names removed from every inbound request. */
  stripped: ReadonlySet<string>;
}

/** An immutable view of everything the edge enforces. Swapped whole when the config version moves. */
export interface EdgeSnapshot {
  version: number;
  hosts: ReadonlyMap<string, HostRuntime>;
  /** `${issuer name key}|${serial}` of every revoked certificate (org revocations and attached CRLs). */
  revoked: ReadonlySet<string>;
  /** Issuer name key → the attached CRL's nextUpdate (ms); past it, revocation status is unknown. */
  crlDeadlines: ReadonlyMap<string, number>;
  defaultContext: SecureContext;
  /** PEM of the default certificate and key, for the listener itself (clients without SNI). */
  defaultTls: { cert: string; key: string };
  /** Access applications, tokens and identity providers. */
  access: AccessSnapshot;
  /** What the next compilation may reuse (see {@link compileSnapshot}); not for the data plane. */
  reusable?: ReusableParts;
}

/**
 * The expensive parts of a snapshot, kept for the next one: a reload after one change (a
 * revocation, a hostname added) then costs what changed, not every hostname's TLS context and CA
 * chain again (1,000 hostnames took 12 s per reload, the worker's event loop blocked throughout).
 * Only inputs compared equal are reused, so a reused part is what compiling afresh would give.
 */
export interface ReusableParts {
  /** Parsed CA chains by CA id, with the PEM they were parsed from. */
  readonly chains: ReadonlyMap<
    string,
    { readonly pem: string; readonly chain: readonly ParsedCertificate[] }
  >;
  /** Per hostname id: what its TLS context was built from, and the context. */
  readonly contexts: ReadonlyMap<string, HostContext>;
  /** Parsed attached CRLs by CA id, with the DER (base64) and issuer chain they were parsed with. */
  readonly crls: ReadonlyMap<
    string,
    { readonly der: string; readonly chain: readonly ParsedCertificate[]; readonly info: AttachedCrlInfo }
  >;
}

interface HostContext {
  /** The hostname row's fields and CA ids the context depends on. */
  readonly key: string;
  /** The CA certificates (parsed objects) it trusts, compared by identity. */
  readonly cas: readonly ParsedCertificate[];
  readonly secureContext: SecureContext;
  readonly anchorsSelfSigned: boolean;
}

/**
 * Deadlines are keyed by issuer name, which two CAs share after a key rollover (old and new
 * "Corp CA"): the earliest wins, so one CA's fresh CRL never lifts the other's fail-closed state.
 */
function tightenDeadline(deadlines: Map<string, number>, issuerKey: string, deadline: number): void {
  deadlines.set(issuerKey, Math.min(deadlines.get(issuerKey) ?? Number.POSITIVE_INFINITY, deadline));
}

const sameCertificates = (a: readonly ParsedCertificate[], b: readonly ParsedCertificate[]) =>
  a.length === b.length && a.every((c, i) => c === b[i]);

export interface SnapshotInput {
  version: number;
  hostnames: Hostname[];
  caIdsByHostname: ReadonlyMap<string, string[]>;
  authorities: CertificateAuthority[];
  attachedCrls: AttachedCrl[];
  revokedSerials: { ca_id: string; serial_number: string }[];
  /** Unseals a hostname's private key (bound to its id). */
  openKey: (sealed: string, aad: string) => string;
  defaultTls: { cert: string; key: string };
  access: AccessSnapshot;
}

// Session tickets off everywhere, including the default context whose ticket keys OpenSSL would
// use to resume sessions on any hostname (the CVE-2025-23419 class of bypass): every connection
// to an mTLS hostname does a full handshake and presents its certificate.
export const EDGE_SECURE_OPTIONS = constants.SSL_OP_NO_TICKET;

const splitPem = (pem: string) =>
  pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\s*/g) ?? [];

/**
 * Compiles what the edge enforces from the database's rows. With `previous`, parts whose inputs
 * did not change are taken over from it (parsed CA chains, hostnames' TLS contexts, parsed
 * attached CRLs); everything else, and every HostRuntime, is built anew.
 */
export function compileSnapshot(input: SnapshotInput, previous?: EdgeSnapshot): EdgeSnapshot {
  const before = previous?.reusable;
  const parsedChains = new Map<string, { pem: string; chain: readonly ParsedCertificate[] }>();
  const chains = new Map<string, readonly ParsedCertificate[]>();
  for (const ca of input.authorities) {
    const old = before?.chains.get(ca.id);
    const chain =
      old && old.pem === ca.certificates_pem
        ? old.chain
        : splitPem(ca.certificates_pem).map((pem) => parseCertificate(pem));
    parsedChains.set(ca.id, { pem: ca.certificates_pem, chain });
    chains.set(ca.id, chain);
  }
  // The org issuing CA's chain continues to the org root, which anchors it.
  const orgRoot = input.authorities.find((ca) => ca.source === 'org_root');
  const orgIssuing = input.authorities.find((ca) => ca.source === 'org_issuing');
  if (orgRoot && orgIssuing)
    chains.set(orgIssuing.id, [...(chains.get(orgIssuing.id) ?? []), ...(chains.get(orgRoot.id) ?? [])]);

  const hosts = new Map<string, HostRuntime>();
  const contexts = new Map<string, HostContext>();
  for (const row of input.hostnames) {
    const auth = row.client_auth as StoredClientAuth;
    const caChains = (input.caIdsByHostname.get(row.id) ?? []).map((id) => chains.get(id) ?? []);
    const anchors = caChains.flatMap((c) => c.slice(-1));
    const legacyAllowances = new Map<string, LegacyAllowances>();
    for (const ca of input.authorities) {
      const anchor = chains.get(ca.id)?.at(-1);
      if (!anchor || !(ca.allow_sha1_signatures || ca.allow_rsa_1024)) continue;
      if (!anchors.includes(anchor)) continue;
      legacyAllowances.set(anchor.fingerprint, {
        allowSha1Signatures: ca.allow_sha1_signatures === 1,
        allowRsa1024: ca.allow_rsa_1024 === 1,
      });
    }
    const intermediates = caChains.flatMap((c) => c.slice(0, -1));
    const cas = caChains.flat();
    const key = JSON.stringify([
      auth.mode === 'off',
      row.certificate_pem,
      row.chain_pem,
      row.sealed_private_key,
    ]);
    const old = before?.contexts.get(row.id);
    const context: HostContext =
      old && old.key === key && sameCertificates(old.cas, cas)
        ? old
        : {
            key,
            cas,
            secureContext: tls.createSecureContext({
              cert: row.certificate_pem + row.chain_pem,
              key: input.openKey(row.sealed_private_key, row.id),
              // The CertificateRequest names these CAs, so clients pick the right certificate.
              ...(auth.mode !== 'off' && cas.length > 0 ? { ca: cas.map((c) => c.x509.toString()) } : {}),
              secureOptions: EDGE_SECURE_OPTIONS,
              minVersion: 'TLSv1.2',
            }),
            anchorsSelfSigned: anchors.every(
              (a) => a.selfIssued && a.x509.checkIssued(a.x509) && a.x509.verify(a.x509.publicKey),
            ),
          };
    contexts.set(row.id, context);
    const forward = auth.forward ?? DEFAULT_FORWARD;
    hosts.set(row.hostname, {
      id: row.id,
      hostname: row.hostname,
      origin: new URL(row.origin),
      mode: auth.mode,
      forward,
      block: auth.block_response ?? {},
      secureContext: context.secureContext,
      anchors,
      anchorsSelfSigned: context.anchorsSelfSigned,
      intermediates,
      legacyAllowances,
      requiredPolicies: auth.required_policies ?? [],
      stripped: strippedHeaders(forward),
    });
  }

  const revoked = new Set<string>();
  for (const r of input.revokedSerials) {
    const issuer = chains.get(r.ca_id)?.[0];
    if (issuer) revoked.add(`${issuer.subject.key}|${r.serial_number}`);
  }
  const crlDeadlines = new Map<string, number>();
  const crls = new Map<string, { der: string; chain: readonly ParsedCertificate[]; info: AttachedCrlInfo }>();
  for (const crl of input.attachedCrls) {
    const chain = chains.get(crl.ca_id) ?? [];
    const old = before?.crls.get(crl.ca_id);
    let info: AttachedCrlInfo;
    try {
      info =
        old && old.der === crl.der_base64 && sameCertificates(old.chain, chain)
          ? old.info
          : parseAttachedCrl(
              Buffer.from(crl.der_base64, 'base64'),
              chain.map((c) => c.x509),
            );
    } catch {
      // A stored CRL that no longer passes (accepted by an older release: without nextUpdate, say)
      // makes its issuer's revocation status unknown: fail closed for what that issuer signed, not
      // for the whole edge (nor for other CAs sharing its root).
      const issuer = chain.find((c) => c.fingerprint === crl.issuer_fingerprint_sha256) ?? chain[0];
      if (issuer) tightenDeadline(crlDeadlines, issuer.subject.key, Number.NEGATIVE_INFINITY);
      continue;
    }
    crls.set(crl.ca_id, { der: crl.der_base64, chain, info });
    for (const key of info.revokedKeys) revoked.add(key);
    const issuer = chain.find((c) => c.fingerprint === crl.issuer_fingerprint_sha256);
    if (issuer)
      tightenDeadline(
        crlDeadlines,
        issuer.subject.key,
        info.nextUpdate?.getTime() ?? Number.POSITIVE_INFINITY,
      );
  }

  return {
    version: input.version,
    hosts,
    revoked,
    crlDeadlines,
    access: input.access,
    defaultTls: input.defaultTls,
    reusable: { chains: parsedChains, contexts, crls },
    defaultContext: tls.createSecureContext({
      cert: input.defaultTls.cert,
      key: input.defaultTls.key,
      secureOptions: EDGE_SECURE_OPTIONS,
      minVersion: 'TLSv1.2',
    }),
  };
}
