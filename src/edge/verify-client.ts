import type { X509Certificate } from 'node:crypto';
import {
  type ParsedCertificate,
  parseCertificate,
  requiredPolicyOptions,
  verifyChain,
} from '../pki/index.js';
import { type ClientCertInfo, clientCertInfo } from './cert-info.js';
import type { ClientCertVerdict } from './headers.js';
import type { EdgeSnapshot, HostRuntime } from './snapshot.js';

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

/** A verdict plus what is needed to re-check it cheaply on later requests of the connection. */
export interface CachedVerdict {
  verdict: ClientCertVerdict;
  /** The snapshot it was computed against: a config change (revocation, CA removal) re-evaluates. */
  version: number;
  /** After this instant (earliest notAfter in the path) the verdict must be recomputed. */
  validUntilMs: number;
}

/** Bounded memo: parsed leaves by fingerprint (parsing costs ~0.7 ms, a lookup nothing). */
class Lru<V> {
  readonly #map = new Map<string, V>();
  constructor(readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): void {
    if (this.#map.size >= this.max) this.#map.delete(this.#map.keys().next().value as string);
    this.#map.set(key, value);
  }
}

const parsedLeaves = new Lru<ParsedCertificate>(10_000);
const infos = new Lru<ClientCertInfo>(10_000);

/**
 * Verdicts shared by the connections of one hostname: a client reconnecting (or a flood reusing
 * one certificate) costs a lookup instead of a path validation. Keyed by the host runtime, which
 * a new snapshot (revocation, CA change) replaces, and by the leaf's SHA-256 and OpenSSL's
 * verdict. A valid verdict is reused until the path's earliest notAfter or a CRL deadline; an
 * invalid one for a few seconds only, so a not-yet-valid certificate is not refused for long.
 * Verdicts that used the chain the client sent are never shared: they depend on that chain.
 */
const sharedVerdicts = new WeakMap<HostRuntime, Lru<CachedVerdict & { reuseUntilMs: number }>>();
const SHARED_VERDICTS_PER_HOST = 4_096;
const INVALID_REUSE_MS = 5_000;

/**
 * Client certificates are a few KB; anything far larger is refused before it is parsed (an
 * 80 KB leaf with thousands of SANs costs ~100 ms and ~0.5 MB to parse, and is free to make).
 */
export const MAX_CLIENT_CERTIFICATE_BYTES = 16 * 1024;
/** The client's own chain is only consulted when it is small. */
const MAX_SENT_CHAIN = { certificates: 8, bytes: 64 * 1024 };

/** A parsed leaf; only leaves that validated are kept (an attacker's certificates are not). */
function parseLeaf(cert: X509Certificate): ParsedCertificate {
  return parsedLeaves.get(cert.fingerprint256) ?? parseCertificate(cert);
}

function infoFor(leaf: ParsedCertificate, chain: readonly ParsedCertificate[]): ClientCertInfo {
  const key = `${leaf.fingerprint}|${chain.map((c) => c.fingerprint).join(',')}`;
  let info = infos.get(key);
  if (!info) {
    info = clientCertInfo(leaf, chain);
    infos.set(key, info);
  }
  return info;
}

/**
 * Decides what a connection's client certificate is worth for `host`: RFC 5280 path validation
 * against the hostname's CAs (clientAuth EKU when the leaf restricts its usage), then revocation
 * from the snapshot, failing closed when an attached CRL is past its nextUpdate.
 * `peerChain` is consulted only when the server-side CA chains are not enough to build a path.
 */
export function evaluateClientCertificate(
  snapshot: EdgeSnapshot,
  host: HostRuntime,
  peer: X509Certificate | undefined,
  peerChain: () => readonly Buffer[],
  peerAuthorized: boolean,
  now: Date,
): CachedVerdict {
  const version = snapshot.version;
  if (!peer) return { verdict: { status: 'none' }, version, validUntilMs: Number.POSITIVE_INFINITY };
  const shared = sharedVerdicts.get(host);
  const key = `${peerAuthorized ? 'a' : 'u'}${peer.fingerprint256}`;
  const reused = shared?.get(key);
  if (reused && reused.version === version && now.getTime() <= reused.reuseUntilMs) return reused;
  let evaluated: ReturnType<typeof evaluate>;
  try {
    evaluated = evaluate(snapshot, host, peer, peerChain, peerAuthorized, now);
  } catch {
    // Whatever a certificate OpenSSL accepted makes our code throw must not take the worker (and
    // every connection on it) down: such a certificate is simply not valid here.
    evaluated = {
      cached: {
        verdict: { status: 'invalid', reason: 'malformed' },
        version,
        validUntilMs: Number.POSITIVE_INFINITY,
      },
      usedPeerChain: false,
    };
  }
  const { cached, usedPeerChain } = evaluated;
  if (!usedPeerChain) {
    const reuseUntilMs =
      cached.verdict.status === 'valid' ? cached.validUntilMs : now.getTime() + INVALID_REUSE_MS;
    let lru = shared;
    if (!lru) {
      lru = new Lru(SHARED_VERDICTS_PER_HOST);
      sharedVerdicts.set(host, lru);
    }
    lru.set(key, { ...cached, reuseUntilMs });
  }
  return cached;
}

function evaluate(
  snapshot: EdgeSnapshot,
  host: HostRuntime,
  peer: X509Certificate,
  peerChain: () => readonly Buffer[],
  peerAuthorized: boolean,
  now: Date,
): { cached: CachedVerdict; usedPeerChain: boolean } {
  const version = snapshot.version;
  const done = (cached: CachedVerdict, usedPeerChain = false) => ({ cached, usedPeerChain });
  if (peer.raw.length > MAX_CLIENT_CERTIFICATE_BYTES)
    return done({
      verdict: { status: 'invalid', reason: 'certificate_too_large' },
      version,
      validUntilMs: Number.POSITIVE_INFINITY,
    });
  let leaf: ParsedCertificate;
  try {
    leaf = parseLeaf(peer);
  } catch {
    return done({
      verdict: { status: 'invalid', reason: 'malformed' },
      version,
      validUntilMs: Number.POSITIVE_INFINITY,
    });
  }
  const options = {
    leaf,
    trustAnchors: host.anchors,
    legacyAllowances: host.legacyAllowances,
    // A required policy is RFC 5280's user-initial-policy-set with initial-explicit-policy.
    ...requiredPolicyOptions(host.requiredPolicies),
    at: now,
    // RFC 5280: a certificate without extendedKeyUsage is not restricted; one with it must allow clientAuth.
    ...(leaf.extKeyUsage ? { requiredEku: CLIENT_AUTH_EKU } : {}),
  };
  let result = verifyChain({ ...options, intermediates: host.intermediates });
  let usedPeerChain = false;
  // The client-sent chain is costly to extract; only worth it when OpenSSL, which saw it during
  // the handshake, found a path (with self-signed anchors OpenSSL's verdict is conclusive).
  if (!result.ok && result.code === 'untrusted' && (peerAuthorized || !host.anchorsSelfSigned)) {
    const sent = peerChain();
    const sentBytes = sent.reduce((n, der) => n + der.length, 0);
    if (sent.length > 0 && sent.length <= MAX_SENT_CHAIN.certificates && sentBytes <= MAX_SENT_CHAIN.bytes) {
      usedPeerChain = true;
      result = verifyChain({ ...options, intermediates: [...host.intermediates, ...sent] });
    }
  }
  if (!result.ok) {
    // No details for an unverified certificate (nothing would forward them); the SKI is for logs.
    return done(
      {
        verdict: { status: 'invalid', reason: result.code, ski: leaf.subjectKeyId },
        version,
        validUntilMs: Number.POSITIVE_INFINITY,
      },
      usedPeerChain,
    );
  }
  parsedLeaves.set(peer.fingerprint256, leaf);
  const chain = result.chain;
  const info = infoFor(leaf, chain);
  for (let i = 0; i < chain.length - 1; i++) {
    const cert = chain[i] as ParsedCertificate;
    if (snapshot.revoked.has(`${cert.issuer.key}|${cert.serial}`)) {
      return done(
        {
          verdict: { status: 'invalid', reason: 'revoked', cert: info },
          version,
          validUntilMs: Number.POSITIVE_INFINITY,
        },
        usedPeerChain,
      );
    }
    const crlDeadline = snapshot.crlDeadlines.get(cert.issuer.key);
    if (crlDeadline !== undefined && now.getTime() > crlDeadline) {
      return done(
        {
          verdict: { status: 'invalid', reason: 'crl_expired', cert: info },
          version,
          validUntilMs: Number.POSITIVE_INFINITY,
        },
        usedPeerChain,
      );
    }
  }
  // The whole path bounds the verdict, anchor included (the strict profile refuses an expired
  // anchor), and so do the CRL deadlines of the path's own issuers: another CA's stale CRL must not
  // end every verdict on every hostname (a new CRL means a new snapshot, which re-judges anyway).
  const deadlines: number[] = [];
  for (let i = 0; i < chain.length - 1; i++) {
    const deadline = snapshot.crlDeadlines.get((chain[i] as ParsedCertificate).issuer.key);
    if (deadline !== undefined) deadlines.push(deadline);
  }
  const validUntilMs = Math.min(...chain.map((c) => c.notAfter.getTime()), ...deadlines);
  return done({ verdict: { status: 'valid', cert: info }, version, validUntilMs }, usedPeerChain);
}
