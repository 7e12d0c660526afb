// The client certificate check, as a pure function: given the certificates (and keys) a device
// found, the rule and the device's facts, decide pass/fail with every reason. The agent runs it
// on what it read from the NSS database and PEM paths; the server runs it again on the
// certificate the agent reports, with the key check replaced by the verified nonce signature.
import { X509Certificate } from 'node:crypto';
import {
  describeCertificate,
  parsePemBlocks,
  requiredPolicyOptions,
  toPem,
  verifyChain,
} from '../pki/index.js';
import {
  type CertificateLocation,
  type CertificateSummary,
  EKU_OIDS,
  type EkuName,
  type PostureReason,
  type PostureRule,
  type TrustStore,
} from './schema.js';

/** What the device knows about a certificate's private key. */
export type KeyEvidence =
  | { kind: 'absent' }
  /** A key was found: its SubjectPublicKeyInfo (DER), compared with the certificate's. */
  | { kind: 'present'; spkiDer: Uint8Array }
  /** The server verified a signature over its nonce with the certificate's public key. */
  | { kind: 'proved' }
  | { kind: 'proof_invalid' };

export interface FoundCertificate {
  /** Where it was found (`nssdb:<dir>:<nickname>` or a file path), for messages only. */
  source: string;
  /** Where it was found, as the rule names locations (reported to the server). */
  location?: CertificateLocation;
  /** PEM, one CERTIFICATE block. */
  pem: string;
  /** Certificates found beside it (same file, same NSS database), PEM: used to build the path. */
  intermediates: string[];
  key: KeyEvidence;
}

export interface DeviceContext {
  serialNumber?: string;
  hostname?: string;
  now: Date;
}

/** The parts of a rule the check needs, with the CA resolved to its certificates (PEM). */
export interface CertificateCheck {
  caCertificates: string[];
  cn?: string;
  extendedKeyUsage: EkuName[];
  checkPrivateKey: boolean;
  /** Certificate policy OIDs the path must be valid for (one of them); empty: no requirement. */
  requiredPolicies: string[];
}

export interface CandidateResult {
  found: FoundCertificate;
  certificate: CertificateSummary;
  reasons: PostureReason[];
  /** Human-readable detail per reason (the chain failure, the CN seen, the EKU missing, …). */
  details: string[];
}

export interface PostureEvaluation {
  success: boolean;
  /** Sorted, without duplicates; empty on success. */
  reasons: PostureReason[];
  details: string[];
  /** The certificate considered: the passing one, else the closest to passing. */
  considered?: CandidateResult;
}

/** The check a stored rule asks for: both rule types, the older one without EKU or key checks. */
export function checkOf(
  rule: Pick<PostureRule, 'type' | 'input'>,
  caCertificates: string[],
): CertificateCheck {
  const input = rule.input;
  if (rule.type === 'client_certificate_v2' && 'check_private_key' in input) {
    return {
      caCertificates,
      cn: input.cn,
      extendedKeyUsage: input.extended_key_usage ?? [],
      checkPrivateKey: input.check_private_key,
      requiredPolicies: input.required_policies ?? [],
    };
  }
  return { caCertificates, cn: input.cn, extendedKeyUsage: [], checkPrivateKey: false, requiredPolicies: [] };
}

/** The locations a rule names: where the agent looks and where a pass may come from. */
export interface RuleLocations {
  paths: string[];
  trustStores: TrustStore[];
}

/**
 * A v2 rule's `locations`; without paths or trust stores (and for the older rule type) the
 * system trust store, where the agent always looked before rules named locations.
 */
export function locationsOf(rule: Pick<PostureRule, 'type' | 'input'>): RuleLocations {
  const named = 'locations' in rule.input ? rule.input.locations : undefined;
  const paths = named?.paths ?? [];
  const trustStores = named?.trust_stores ?? [];
  return paths.length === 0 && trustStores.length === 0
    ? { paths: [], trustStores: ['system'] }
    : { paths, trustStores };
}

/** Whether a certificate found at `at` may count for a rule naming `allowed` (exact paths). */
export function locationAllowed(allowed: RuleLocations, at: CertificateLocation | undefined): boolean {
  if (!at) return false;
  return 'path' in at ? allowed.paths.includes(at.path) : allowed.trustStores.includes(at.trust_store);
}

/**
 * `${serial_number}` and `${hostname}` substituted; undefined when the template names a fact the
 * device does not have (then no certificate can match: fail closed) or an unknown variable.
 */
export function expandCommonName(template: string, device: DeviceContext): string | undefined {
  let missing = false;
  const expanded = template.replace(/\$\{([a-z_]+)\}/g, (_, name: string) => {
    const value =
      name === 'serial_number' ? device.serialNumber : name === 'hostname' ? device.hostname : undefined;
    if (value === undefined || value === '') missing = true;
    return value ?? '';
  });
  return missing ? undefined : expanded;
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

export function evaluateCandidate(
  found: FoundCertificate,
  check: CertificateCheck,
  device: DeviceContext,
): CandidateResult {
  const description = describeCertificate(found.pem);
  const certificate: CertificateSummary = {
    subject: description.subject,
    serial_number: description.serialNumber,
    fingerprint_sha256: description.fingerprintSha256,
    not_after: description.notAfter.toISOString(),
  };
  const reasons: PostureReason[] = [];
  const details: string[] = [];
  const now = device.now.getTime();

  const expired = description.notAfter.getTime() < now;
  const notYet = description.notBefore.getTime() > now;
  if (expired) {
    reasons.push('expired');
    details.push(`the certificate expired on ${description.notAfter.toISOString()}`);
  }
  if (notYet) {
    reasons.push('not_yet_valid');
    details.push(`the certificate is not valid before ${description.notBefore.toISOString()}`);
  }
  // Trust is judged apart from the leaf's own dates, so an expired certificate from the right CA
  // reads "expired", not "untrusted": at the leaf's midpoint when it is outside its validity.
  const at =
    expired || notYet
      ? new Date((description.notBefore.getTime() + description.notAfter.getTime()) / 2)
      : device.now;
  const chain = verifyChain({
    leaf: found.pem,
    intermediates: found.intermediates,
    trustAnchors: check.caCertificates,
    // The same requirement as a hostname's client_auth.required_policies.
    ...requiredPolicyOptions(check.requiredPolicies),
    at,
  });
  // Judged at the leaf's midpoint, the anchor's own dates say nothing about today: the leaf's
  // dates already fail the check.
  const anchorDatesAtMidpoint =
    (expired || notYet) &&
    (chain.ok ? false : ['anchor_expired', 'anchor_not_yet_valid'].includes(chain.code));
  if (!chain.ok && !anchorDatesAtMidpoint) {
    if (chain.code === 'expired' || chain.code === 'not_yet_valid') {
      if (!expired && !notYet) reasons.push('expired');
    } else if (chain.code === 'policy_required') {
      // Trusted, but no required policy is valid for the path: its own reason, as at the edge.
      reasons.push('policy_required');
    } else {
      reasons.push('untrusted');
    }
    // The verifyChain code (weak_key, ca_as_leaf, anchor_expired, …) says which rule refused it.
    details.push(`chain (${chain.code}): ${chain.reason}`);
  }

  if (check.cn !== undefined) {
    const expected = expandCommonName(check.cn, device);
    const actual = description.commonName;
    if (expected === undefined) {
      reasons.push('fact_not_registered');
      details.push(`the rule's cn "${check.cn}" names a device fact this device did not register`);
    } else if (actual === undefined || expected.toLowerCase() !== actual.toLowerCase()) {
      reasons.push('cn_mismatch');
      details.push(`common name "${actual ?? ''}" is not "${expected}"`);
    }
  }

  const ekus = new Set(description.extendedKeyUsage ?? []);
  const missing = check.extendedKeyUsage.filter((name) => !ekus.has(name));
  if (missing.length > 0) {
    reasons.push('eku_missing');
    details.push(`missing extended key usage ${missing.map((m) => `${m} (${EKU_OIDS[m]})`).join(', ')}`);
  }

  if (check.checkPrivateKey) {
    const key = found.key;
    if (key.kind === 'absent') {
      reasons.push('no_private_key');
      details.push("the certificate's private key is not on the device");
    } else if (key.kind === 'present') {
      const spki = new X509Certificate(found.pem).publicKey.export({ type: 'spki', format: 'der' });
      if (!sameBytes(spki, key.spkiDer)) {
        reasons.push('key_mismatch');
        details.push('the private key found does not belong to the certificate');
      }
    } else if (key.kind === 'proof_invalid') {
      reasons.push('key_proof_invalid');
      details.push("the nonce signature does not verify with the certificate's public key");
    }
  }
  return { found, certificate, reasons, details };
}

/**
 * The rule passes when some certificate passes every check. Otherwise the result names the
 * certificate closest to passing (fewest reasons, first found on ties) and all its reasons.
 */
export function evaluateCertificates(
  found: readonly FoundCertificate[],
  check: CertificateCheck,
  device: DeviceContext,
): PostureEvaluation {
  let best: CandidateResult | undefined;
  for (const candidate of found) {
    let result: CandidateResult;
    try {
      result = evaluateCandidate(candidate, check, device);
    } catch {
      continue; // not a certificate we can read: as if absent
    }
    if (result.reasons.length === 0) return { success: true, reasons: [], details: [], considered: result };
    if (!best || result.reasons.length < best.reasons.length) best = result;
  }
  if (!best) return { success: false, reasons: ['not_found'], details: ['no certificate found'] };
  return {
    success: false,
    reasons: [...new Set(best.reasons)].sort(),
    details: best.details,
    considered: best,
  };
}

/** Splits a PEM bundle into its CERTIFICATE blocks (PEM text each); other blocks are skipped. */
export function certificateBlocks(text: string): string[] {
  return parsePemBlocks(text)
    .filter((b) => b.label === 'CERTIFICATE')
    .map((b) => toPem(b.der, 'CERTIFICATE'));
}
