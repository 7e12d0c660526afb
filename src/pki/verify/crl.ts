import type { KeyObject } from 'node:crypto';
import type { SubjectIndex } from './build.js';
import { type GeneralNameValue, sameGeneralName } from './general-name.js';
import { crlAlgorithmSupported, crlSignedBy, keyInPath, ownKey } from './keys.js';
import { appendRdn, type DistinguishedName } from './name.js';
import {
  ALL_REASONS,
  type DistributionPoint,
  KEY_USAGE,
  type ParsedCertificate,
  type ParsedCrl,
  REASON_REMOVE_FROM_CRL,
} from './parse.js';
import { type Failure, fail } from './types.js';
import type { WorkBudget } from './work.js';

/**
 * Revocation checking with CRLs, following RFC 5280 §6.3.3 with use-deltas set. See
 * docs/pkits.md for what is and is not supported.
 */

export interface CrlIndex {
  /** Complete CRLs by issuer name key. */
  readonly complete: ReadonlyMap<string, readonly ParsedCrl[]>;
  /** Delta CRLs (deltaCRLIndicator) by issuer name key. */
  readonly delta: ReadonlyMap<string, readonly ParsedCrl[]>;
}

export function indexCrls(crls: readonly ParsedCrl[]): CrlIndex {
  const complete = new Map<string, ParsedCrl[]>();
  const delta = new Map<string, ParsedCrl[]>();
  for (const crl of crls) {
    const index = crl.deltaBase === undefined ? complete : delta;
    const list = index.get(crl.issuer.key);
    if (list) list.push(crl);
    else index.set(crl.issuer.key, [crl]);
  }
  return { complete, delta };
}

export type SignerResult = { path: readonly ParsedCertificate[] } | { failure: Failure };

export interface RevocationContext {
  readonly at: Date;
  readonly crls: CrlIndex;
  readonly pool: SubjectIndex;
  readonly budget: WorkBudget;
  /** The strict profile's verdict on a CRL's signature algorithm (undefined: acceptable). */
  readonly weakSignature: (crl: ParsedCrl) => Failure | undefined;
  /**
   * Validates, to `anchor`, the path of a CRL signer that is not part of the certificate's own
   * path (separate CRL keys, indirect CRLs). Provided by the engine, which owns path building.
   */
  readonly validateSigner: (signer: ParsedCertificate, anchor: ParsedCertificate) => SignerResult;
}

const REASON_NAMES = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'reason 7',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];

/** A certificate without cRLDistributionPoints: one implicit point, CRL issued by its issuer. */
const IMPLICIT_POINT: DistributionPoint = {};

/** Why no CRL could decide a certificate's status; the most specific explanation wins. */
class Problems {
  private best: { failure: Failure; rank: number } | undefined;

  add(rank: number, failure: Failure): void {
    if (!this.best || rank > this.best.rank) this.best = { failure, rank };
  }

  get failure(): Failure | undefined {
    return this.best?.failure;
  }
}

const directoryNames = (names: readonly GeneralNameValue[] | undefined) =>
  (names ?? []).flatMap((n) => (n.type === 'dn' ? [n.name] : []));

/** Names of the CRL issuers for this distribution point: its cRLIssuer, else the certificate's issuer. */
function crlIssuers(cert: ParsedCertificate, dp: DistributionPoint): readonly DistinguishedName[] {
  return dp.crlIssuer ? directoryNames(dp.crlIssuer) : [cert.issuer];
}

/** The distribution point's names, with nameRelativeToCRLIssuer expanded (§4.2.1.13). */
function pointNames(cert: ParsedCertificate, dp: DistributionPoint): readonly GeneralNameValue[] | undefined {
  if (dp.fullName) return dp.fullName;
  if (!dp.relativeName) return undefined;
  const bases = dp.crlIssuer ? directoryNames(dp.crlIssuer) : [cert.issuer];
  return bases.map((base) => ({ type: 'dn' as const, name: appendRdn(base, dp.relativeName!) }));
}

/**
 * §6.3.3 (b): does this CRL cover the certificate for this distribution point? Returns why not.
 * (The issuer name itself already matched: CRLs are looked up by crlIssuers.)
 */
function outOfScope(crl: ParsedCrl, cert: ParsedCertificate, dp: DistributionPoint): string | undefined {
  const idp = crl.issuingDistributionPoint;
  // (b)(1): a CRL issuer other than the certificate issuer must declare itself indirect.
  if (dp.crlIssuer && !idp?.indirectCRL) return 'it is not an indirect CRL';
  if (!idp) return undefined;
  const idpNames =
    idp.fullName ??
    (idp.relativeName ? [{ type: 'dn' as const, name: appendRdn(crl.issuer, idp.relativeName) }] : undefined);
  if (idpNames) {
    // (b)(2)(i): match the point's names, or its cRLIssuer when it has no name.
    const names = pointNames(cert, dp) ?? dp.crlIssuer;
    if (!names?.some((a) => idpNames.some((b) => sameGeneralName(a, b)))) {
      return 'its issuingDistributionPoint names another distribution point';
    }
  }
  const isCa = cert.basicConstraints?.ca === true;
  if (idp.onlyContainsUserCerts && isCa) return 'it only covers end-entity certificates'; // (ii)
  if (idp.onlyContainsCACerts && !isCa) return 'it only covers CA certificates'; // (iii)
  if (idp.onlyContainsAttributeCerts) return 'it only covers attribute certificates'; // (iv)
  return undefined;
}

/** Problems that make a CRL unusable whoever signed it (§6.3.3 (a); §5.2, §5.3 critical extensions). */
function unusable(crl: ParsedCrl, at: Date): string | undefined {
  // RFC 5280 §5.1.2.5 requires nextUpdate; without it a CRL would be current forever.
  if (!crl.nextUpdate) return `${crl.label} has no nextUpdate`;
  if (at > crl.nextUpdate) return `${crl.label} expired at ${crl.nextUpdate.toISOString()}`;
  if (at < crl.thisUpdate) return `${crl.label} is not yet valid`;
  if (crl.unsupportedExtensions.length > 0) {
    return `${crl.label} cannot be used, it has unsupported critical extensions: ${crl.unsupportedExtensions.join(', ')}`;
  }
  if (!crlAlgorithmSupported(crl))
    return `${crl.label} uses unsupported signature algorithm ${crl.signatureAlgorithm.algorithm}`;
  return undefined;
}

interface SignerCandidate {
  readonly cert: ParsedCertificate;
  /** Index in the certificate's path when the signer is part of it (already validated). */
  readonly pathIndex?: number;
}

/**
 * §6.3.3 (f), (g): finds a certificate that signed the CRL and is valid to the same anchor. The
 * path's own CAs above the certificate are preferred: they are validated already, and checking the
 * path from the anchor down means their revocation status is known too. Otherwise (separate CRL
 * signing keys, indirect CRLs) a pool certificate with the CRL issuer's name is validated to the
 * same anchor. Returns the signer's key, or undefined after recording why not.
 */
function crlSignerKey(
  crl: ParsedCrl,
  path: readonly ParsedCertificate[],
  index: number,
  ctx: RevocationContext,
  problems: Problems,
): KeyObject | undefined {
  const anchorIndex = path.length - 1;
  const anchor = path[anchorIndex]!;
  const candidates: SignerCandidate[] = [];
  for (let j = index + 1; j < path.length; j++) {
    if (path[j]!.subject.key === crl.issuer.key) candidates.push({ cert: path[j]!, pathIndex: j });
  }
  for (const cert of ctx.pool.get(crl.issuer.key) ?? []) {
    if (!path.includes(cert)) candidates.push({ cert });
  }
  // AKI/SKI agreement first; stable sort keeps path certificates ahead of pool ones.
  const akiRank = (c: SignerCandidate) =>
    crl.authorityKeyId && c.cert.subjectKeyId === crl.authorityKeyId ? 0 : 1;
  candidates.sort((a, b) => akiRank(a) - akiRank(b));
  // Last resort: a dedicated CRL signer's own certificate, covered by a CRL it signed (PKITS
  // 4.14.30). Its key is vouched for by the path being validated; only its status comes from its
  // own CRL, and only if its keyUsage explicitly allows CRL signing.
  const self = path[index]!;
  if (self.subject.key === crl.issuer.key && self.keyUsage !== undefined) {
    candidates.push({ cert: self, pathIndex: index });
  }

  for (const { cert, pathIndex } of candidates) {
    if (!ctx.budget.spend()) return undefined;
    const isAnchor = pathIndex === anchorIndex;
    if (!isAnchor && cert.keyUsage !== undefined && !(cert.keyUsage & KEY_USAGE.cRLSign)) {
      // Only an error if this is the key that signed the CRL.
      const key = pathIndex !== undefined ? keyInPath(path, pathIndex) : ownKey(cert);
      if (key && crlSignedBy(crl, key)) {
        problems.add(
          4,
          fail('key_usage', `${cert.label} signed ${crl.label} but its keyUsage lacks cRLSign`),
        );
      }
      continue;
    }
    if (pathIndex !== undefined) {
      const key = keyInPath(path, pathIndex);
      if (key && crlSignedBy(crl, key)) return key;
      problems.add(
        2,
        fail('crl_invalid', `${crl.label}: signature does not verify with the key of ${cert.label}`),
      );
      continue;
    }
    // Cheap signature check before validating a whole path (when the key stands alone).
    const own = ownKey(cert);
    if (own && !crlSignedBy(crl, own)) {
      problems.add(
        2,
        fail('crl_invalid', `${crl.label}: signature does not verify with the key of ${cert.label}`),
      );
      continue;
    }
    const result = ctx.validateSigner(cert, anchor);
    if ('failure' in result) {
      const reason = `${crl.label} was signed by ${cert.label}, which is not valid: ${result.failure.reason}`;
      problems.add(3, fail('crl_invalid', reason));
      continue;
    }
    const key = keyInPath(result.path, 0);
    if (key && crlSignedBy(crl, key)) return key;
    problems.add(
      2,
      fail('crl_invalid', `${crl.label}: signature does not verify with the key of ${cert.label}`),
    );
  }
  return undefined;
}

/**
 * §6.3.3 (c), (h): the delta CRL to apply on top of a complete CRL. Only the newest delta that
 * extends this CRL (same issuer and scope, BaseCRLNumber ≤ CRL number < delta CRL number) is used.
 * If that delta is unusable the complete CRL is not trusted either (we know it is stale).
 */
function deltaFor(
  complete: ParsedCrl,
  key: KeyObject,
  ctx: RevocationContext,
): { delta?: ParsedCrl; problem?: string } {
  const scope = complete.issuingDistributionPoint?.der;
  const deltas = (ctx.crls.delta.get(complete.issuer.key) ?? []).filter(
    (d) => d.issuingDistributionPoint?.der === scope,
  );
  if (deltas.length === 0) return {};
  const number = complete.crlNumber;
  // Fail closed: revocations in a delta we cannot relate to this CRL must not be ignored.
  if (number === undefined) return { problem: `${complete.label} has no cRLNumber but delta CRLs exist` };
  let newest: ParsedCrl | undefined;
  for (const delta of deltas) {
    if (delta.crlNumber === undefined || delta.deltaBase! > number || delta.crlNumber <= number) continue;
    if (!newest || delta.crlNumber > newest.crlNumber!) newest = delta;
  }
  if (!newest) return {};
  const problem = unusable(newest, ctx.at) ?? ctx.weakSignature(newest)?.reason;
  if (problem) return { problem };
  if (!ctx.budget.spend()) return { problem: 'work budget exhausted' };
  if (!crlSignedBy(newest, key)) {
    return {
      problem: `${newest.label}: signature does not verify with the key that signed ${complete.label}`,
    };
  }
  return { delta: newest };
}

/** §6.3.3 for path[index]; undefined when the certificate is known not to be revoked. */
function certificateStatus(
  path: readonly ParsedCertificate[],
  index: number,
  ctx: RevocationContext,
): Failure | undefined {
  const cert = path[index]!;
  const who = `${index === 0 ? 'leaf' : 'intermediate'} ${cert.label}`;
  const points = cert.crlDistributionPoints?.length ? cert.crlDistributionPoints : [IMPLICIT_POINT];
  const entryKey = `${cert.issuer.key}|${cert.serial}`;
  const problems = new Problems();
  let reasonsMask = 0;

  for (const dp of points) {
    if (reasonsMask === ALL_REASONS) break;
    const crls = crlIssuers(cert, dp).flatMap((issuer) => ctx.crls.complete.get(issuer.key) ?? []);
    for (const crl of crls) {
      if (reasonsMask === ALL_REASONS) break;
      const mismatch = outOfScope(crl, cert, dp);
      if (mismatch) {
        problems.add(1, fail('crl_invalid', `${who}: ${crl.label} does not cover it: ${mismatch}`));
        continue;
      }
      // The `unused` bit may be set in either; it is not a reason, so mask it off.
      const interim =
        (crl.issuingDistributionPoint?.onlySomeReasons ?? ALL_REASONS) &
        (dp.reasons ?? ALL_REASONS) &
        ALL_REASONS;
      if ((interim & ~reasonsMask) === 0) continue; // (e): nothing new to learn from this CRL
      const problem = unusable(crl, ctx.at);
      if (problem) {
        problems.add(2, fail('crl_invalid', problem));
        continue;
      }
      const weak = ctx.weakSignature(crl);
      if (weak) {
        problems.add(2, weak);
        continue;
      }
      const key = crlSignerKey(crl, path, index, ctx, problems);
      if (!key) continue;
      const { delta, problem: deltaProblem } = deltaFor(crl, key, ctx);
      if (deltaProblem) {
        problems.add(2, fail('crl_invalid', deltaProblem));
        continue;
      }
      // (i), (j), (k): the delta's entry wins; removeFromCRL undoes a hold.
      const source = delta?.entries.has(entryKey) ? delta : crl;
      const entry = source.entries.get(entryKey);
      if (entry && entry.reason !== REASON_REMOVE_FROM_CRL) {
        const reason = REASON_NAMES[entry.reason ?? 0] ?? `reason ${entry.reason}`;
        return fail('revoked', `${who} is revoked (${reason}) according to ${source.label}`);
      }
      reasonsMask |= interim;
    }
  }
  if (reasonsMask === ALL_REASONS) return undefined;
  if (reasonsMask !== 0) {
    return fail('crl_invalid', `${who}: the valid CRLs cover only some revocation reasons`);
  }
  const issuers = [...new Set(points.flatMap((dp) => crlIssuers(cert, dp)).map((dn) => `"${dn.text}"`))];
  return problems.failure ?? fail('crl_invalid', `${who}: no CRL from ${issuers.join(' or ')} was given`);
}

/**
 * Checks every certificate of path = [leaf, …, anchor] except the anchor, from the anchor down,
 * so a CRL signed by a CA higher in the path is only trusted once that CA's status is known.
 */
export function checkPathRevocation(
  path: readonly ParsedCertificate[],
  ctx: RevocationContext,
): Failure | undefined {
  for (let i = path.length - 2; i >= 0; i--) {
    const failure = certificateStatus(path, i, ctx);
    if (failure) return failure;
  }
  return undefined;
}
