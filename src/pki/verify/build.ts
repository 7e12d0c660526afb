import { brokenSignature, certSignedBy, ownKey } from './keys.js';
import type { ParsedCertificate } from './parse.js';
import { fail } from './types.js';
import type { FailureTracker, WorkBudget } from './work.js';

/** Certificates by subject name key (DistinguishedName.key). */
export type SubjectIndex = ReadonlyMap<string, readonly ParsedCertificate[]>;

export function indexBySubject(certs: Iterable<ParsedCertificate>): Map<string, ParsedCertificate[]> {
  const index = new Map<string, ParsedCertificate[]>();
  for (const cert of certs) {
    const list = index.get(cert.subject.key);
    if (list) list.push(cert);
    else index.set(cert.subject.key, [cert]);
  }
  return index;
}

export interface BuildContext {
  readonly anchors: SubjectIndex;
  readonly pool: SubjectIndex;
  readonly at: Date;
  readonly maxIntermediates: number;
  readonly budget: WorkBudget;
  readonly failures: FailureTracker;
  /** When set, only this anchor may end a path (CRL signer paths, RFC 5280 §6.3.3 (f)). */
  readonly anchor?: ParsedCertificate;
}

interface Candidate {
  readonly cert: ParsedCertificate;
  readonly isAnchor: boolean;
  readonly rank: number;
}

/**
 * AKI/SKI agreement is the best hint of the right issuer among several with the same name (re-keyed
 * CAs, decoys): matching first, unknown next, contradicting last (still tried: the AKI is only a hint).
 * Anchors before intermediates (shorter paths), then certificates valid at `at`.
 */
function rankOf(child: ParsedCertificate, cert: ParsedCertificate, isAnchor: boolean, at: Date): number {
  const aki =
    !child.authorityKeyId || !cert.subjectKeyId ? 1 : child.authorityKeyId === cert.subjectKeyId ? 0 : 2;
  const current = cert.notBefore <= at && at <= cert.notAfter ? 0 : 1;
  return aki * 4 + (isAnchor ? 0 : 2) + current;
}

function issuerCandidates(
  child: ParsedCertificate,
  path: readonly ParsedCertificate[],
  ctx: BuildContext,
): Candidate[] {
  const candidates: Candidate[] = [];
  for (const cert of ctx.anchors.get(child.issuer.key) ?? []) {
    if (ctx.anchor && cert !== ctx.anchor) continue;
    candidates.push({ cert, isAnchor: true, rank: rankOf(child, cert, true, ctx.at) });
  }
  for (const cert of ctx.pool.get(child.issuer.key) ?? []) {
    // A (name, key) pair may appear once: this is what stops loops, including cross-certificate
    // loops where the same CA shows up under different certificates.
    if (path.some((p) => p.subject.key === cert.subject.key && p.keyHash === cert.keyHash)) continue;
    candidates.push({ cert, isAnchor: false, rank: rankOf(child, cert, false, ctx.at) });
  }
  // Array.prototype.sort is stable, so equal ranks keep the caller's order.
  return candidates.sort((a, b) => a.rank - b.rank);
}

/**
 * Checks the edge child ← issuer. An issuer whose DSA key inherits its parameters cannot be checked
 * before the rest of the path is known; validatePath checks it then.
 */
function edgeVerifies(child: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (issuer.inheritsKeyParameters) return true;
  const key = ownKey(issuer);
  return key !== undefined && certSignedBy(child, key);
}

function* extend(
  path: readonly ParsedCertificate[],
  ctx: BuildContext,
): Generator<readonly ParsedCertificate[]> {
  const child = path[path.length - 1]!;
  const depth = path.length;
  const candidates = issuerCandidates(child, path, ctx);
  if (candidates.length === 0) {
    const reason = `${child.label}: its issuer "${child.issuer.text}" is neither a trust anchor nor among the intermediates`;
    ctx.failures.deadEnd(fail('untrusted', reason), depth);
    return;
  }
  for (const { cert, isAnchor } of candidates) {
    if (!ctx.budget.spend()) return;
    if (!edgeVerifies(child, cert)) {
      const issuer = `${isAnchor ? 'trust anchor' : 'intermediate'} ${cert.label}`;
      ctx.failures.deadEnd(
        brokenSignature(child)
          ? fail('weak_signature', `${child.label}: signed with ${child.signatureAlgorithm} (MD2/MD4/MD5)`)
          : fail('bad_signature', `${child.label}: signature does not verify with the key of ${issuer}`),
        depth,
      );
      continue;
    }
    if (isAnchor) {
      yield [...path, cert];
    } else if (path.length - 1 >= ctx.maxIntermediates) {
      const reason = `${child.label}: a path through ${cert.label} would have more than ${ctx.maxIntermediates} intermediates`;
      ctx.failures.deadEnd(fail('path_length_exceeded', reason), depth);
    } else {
      yield* extend([...path, cert], ctx);
    }
    if (ctx.budget.exhausted) return;
  }
}

/**
 * RFC 5280 §6 leaves path building to the implementation. This is a depth-first search from the
 * leaf towards the anchors: issuers are found by subject name, ordered by rankOf, and checked by
 * signature before going deeper so decoys are pruned early. Each complete path (leaf … anchor) is
 * yielded for full validation; the caller stops at the first that validates. Dead ends are
 * reported to ctx.failures, and the whole search is bounded by ctx.budget.
 */
export function candidatePaths(
  leaf: ParsedCertificate,
  ctx: BuildContext,
): Generator<readonly ParsedCertificate[]> {
  return extend([leaf], ctx);
}
