import type { ParsedCertificate } from './parse.js';
import { type Failure, fail } from './types.js';

/**
 * Certificate policy processing, RFC 5280 §6.1.2 (a), (d)–(f), (i)–(j), §6.1.3 (d)–(f),
 * §6.1.4 (a)–(b), (h)–(j), §6.1.5 (a)–(b), (g). The valid_policy_tree is kept level by level
 * (only the deepest level is ever extended), which is all the algorithm needs; its size is
 * bounded because every node of a level has a distinct valid_policy within its parent.
 */

export const ANY_POLICY = '2.5.29.32.0';

/**
 * A certificate policy OID in dotted decimal as configuration takes it: first arc 0–2, then at
 * least one more arc, no leading zeros, at most 18 digits per arc (a JSON Schema pattern).
 */
export const POLICY_OID_PATTERN = '^[0-2](\\.(0|[1-9][0-9]{0,17}))+$';
const POLICY_OID = new RegExp(POLICY_OID_PATTERN);

/**
 * Why `text` is not a policy OID as POLICY_OID_PATTERN (plus X.660's second arc of at most 39
 * under 0 and 1) accepts it, naming the arc at fault; undefined when it is one.
 */
export function policyOidError(text: string): string | undefined {
  if (text.length > 200) return 'is longer than 200 characters';
  const arcs = text.split('.');
  if (arcs.length < 2) return 'needs at least two arcs (dotted decimal, e.g. 2.16.840.1.101.3.2.1.3.13)';
  for (const [i, arc] of arcs.entries()) {
    if (!/^[0-9]+$/.test(arc))
      return arc === ''
        ? `arc ${i + 1} is empty`
        : `arc ${i + 1} (${JSON.stringify(arc)}) is not a decimal number`;
    if (arc.length > 1 && arc.startsWith('0')) return `arc ${i + 1} (${arc}) has a leading zero`;
    if (arc.length > 18) return `arc ${i + 1} has more than 18 digits`;
  }
  if (Number(arcs[0]) > 2) return `the first arc must be 0, 1 or 2, not ${arcs[0]}`;
  if (Number(arcs[0]) < 2 && Number(arcs[1]) > 39)
    return `under ${arcs[0]} the second arc must be at most 39, not ${arcs[1]}`;
  return POLICY_OID.test(text) ? undefined : 'is not a dotted-decimal OID';
}

/** The policy user inputs of RFC 5280 §6.1.1 (c), (e), (f), (g). */
export interface PolicyInputs {
  /** user-initial-policy-set; default [anyPolicy]. */
  readonly initialPolicies?: readonly string[];
  readonly initialExplicitPolicy?: boolean;
  readonly initialPolicyMappingInhibit?: boolean;
  readonly initialAnyPolicyInhibit?: boolean;
}

interface PolicyNode {
  readonly validPolicy: string;
  readonly expected: Set<string>;
  readonly parent?: PolicyNode;
  /** Children were attached (a node without children below the last level is pruned). */
  children: number;
}

/** More nodes than this in one level: refused rather than processed (hostile mappings). */
const MAX_LEVEL_NODES = 1024;

const dec = (n: number) => (n > 0 ? n - 1 : 0);

/** Removes nodes of `level` from their parents' counts, and prunes now-childless ancestors. */
function detach(nodes: readonly PolicyNode[], levels: PolicyNode[][], depth: number): void {
  let dying = new Set(nodes);
  for (let d = depth; d > 0 && dying.size > 0; d--) {
    const parents = new Set<PolicyNode>();
    for (const node of dying) {
      if (node.parent) {
        node.parent.children--;
        if (node.parent.children === 0) parents.add(node.parent);
      }
    }
    levels[d] = levels[d]!.filter((n) => !dying.has(n));
    dying = parents;
  }
  if (dying.size > 0) levels[0] = levels[0]!.filter((n) => !dying.has(n));
}

/** The valid_policy_tree's last level and explicit_policy after the leaf, or why the path failed. */
type PolicyTree =
  { readonly failure: Failure } | { readonly explicitPolicy: number; readonly leaves: readonly PolicyNode[] };

/**
 * Runs policy processing over path = [leaf, …, anchor]: fails with policy_required when an
 * explicit policy is required (by a CA's policyConstraints or initialExplicitPolicy) and none
 * acceptable to the verifier is valid, policy_invalid for a mapping of anyPolicy.
 */
export function processPolicies(
  path: readonly ParsedCertificate[],
  inputs: PolicyInputs,
): Failure | undefined {
  const tree = policyTree(path, inputs);
  if ('failure' in tree) return tree.failure;
  // §6.1.5 (g): intersect the tree with the user-initial-policy-set; the path fails only if
  // explicit_policy is 0 and the intersection is empty.
  if (tree.explicitPolicy > 0) return undefined;
  if (policySetAccepts(authorityPolicies(tree.leaves), inputs.initialPolicies ?? [ANY_POLICY]))
    return undefined;
  return fail(
    'policy_required',
    `${path[0]!.label}: no certificate policy acceptable to the verifier is valid for this path`,
  );
}

const NO_POLICIES: ReadonlySet<string> = new Set();

/**
 * The policies a validated path is good for, in the trust anchor's policy domain (RFC 5280
 * §6.1.5 (g)(iii): the valid_policy_node_set the user-initial-policy-set is intersected with;
 * policy mappings are followed back to the policy the anchor's side names). Contains anyPolicy
 * when an anyPolicy branch reaches the leaf (every CA and the leaf assert anyPolicy). Empty when
 * the tree is NULL (a certificate without certificatePolicies) or processing fails. With the
 * default inputs it does not depend on the user-initial-policy-set: test it with
 * `policySetAccepts`, which is what verifyChain's initialPolicies + initialExplicitPolicy decide.
 */
export function validPolicies(
  path: readonly ParsedCertificate[],
  inputs: PolicyInputs = {},
): ReadonlySet<string> {
  const tree = policyTree(path, inputs);
  return 'failure' in tree ? NO_POLICIES : authorityPolicies(tree.leaves);
}

/**
 * Whether a path valid for `policies` (from `validPolicies`) is acceptable for a
 * user-initial-policy-set `initial`: §6.1.5 (g)(iii) — an anyPolicy node at the leaf is replaced
 * by the user's policies, so it satisfies any non-empty set; a user set of anyPolicy accepts any
 * non-NULL tree.
 */
export function policySetAccepts(policies: ReadonlySet<string>, initial: readonly string[]): boolean {
  if (initial.includes(ANY_POLICY)) return policies.size > 0;
  if (policies.has(ANY_POLICY)) return initial.length > 0;
  return initial.some((p) => policies.has(p));
}

function policyTree(path: readonly ParsedCertificate[], inputs: PolicyInputs): PolicyTree {
  const n = path.length - 1; // certificates below the anchor
  // §6.1.2 (d)–(f): n + 1 means "not required"; the user inputs set them to 0.
  let explicitPolicy = inputs.initialExplicitPolicy ? 0 : n + 1;
  let inhibitAnyPolicy = inputs.initialAnyPolicyInhibit ? 0 : n + 1;
  let policyMapping = inputs.initialPolicyMappingInhibit ? 0 : n + 1;
  // §6.1.2 (a): the tree starts as one anyPolicy node at depth 0. levels[d] = nodes at depth d.
  let levels: PolicyNode[][] | undefined = [
    [{ validPolicy: ANY_POLICY, expected: new Set([ANY_POLICY]), children: 0 }],
  ];

  for (let i = 1; i <= n; i++) {
    const cert = path[n - i]!; // i-th certificate from the anchor
    const isLeaf = i === n;
    const who = `${isLeaf ? 'leaf' : 'intermediate'} ${cert.label}`;

    // §6.1.3 (d)
    if (levels && cert.policies !== undefined) {
      const parents = levels[i - 1]!;
      const next: PolicyNode[] = [];
      const add = (validPolicy: string, expected: Iterable<string>, parent: PolicyNode) => {
        parent.children++;
        next.push({ validPolicy, expected: new Set(expected), parent, children: 0 });
      };
      const certPolicies = cert.policies.filter((p) => p !== ANY_POLICY);
      for (const p of certPolicies) {
        // (d)(1)(i): parents expecting p; (d)(1)(ii): otherwise an anyPolicy parent.
        const matching = parents.filter((node) => node.expected.has(p));
        if (matching.length > 0) for (const parent of matching) add(p, [p], parent);
        else
          for (const parent of parents.filter((node) => node.validPolicy === ANY_POLICY)) add(p, [p], parent);
      }
      // (d)(2): anyPolicy in the certificate, when not inhibited (self-issued intermediates keep it).
      if (cert.policies.includes(ANY_POLICY) && (inhibitAnyPolicy > 0 || (!isLeaf && cert.selfIssued))) {
        for (const parent of parents) {
          for (const expected of parent.expected) {
            const taken = next.some((c) => c.parent === parent && c.validPolicy === expected);
            if (!taken) add(expected, [expected], parent);
          }
        }
      }
      if (next.length > MAX_LEVEL_NODES) {
        return {
          failure: fail(
            'path_too_complex',
            `${who}: the certificate policy tree grew beyond ${MAX_LEVEL_NODES} nodes`,
          ),
        };
      }
      levels.push(next);
      // (d)(3): prune nodes of earlier levels that got no child.
      const childless = parents.filter((p) => p.children === 0);
      if (childless.length > 0) detach(childless, levels, i - 1);
      if (levels[0]!.length === 0) levels = undefined;
    } else if (levels) {
      // §6.1.3 (e): no certificatePolicies extension: the tree becomes NULL.
      levels = undefined;
    }
    // §6.1.3 (f)
    if (explicitPolicy <= 0 && !levels) {
      return {
        failure: fail(
          'policy_required',
          `${who}: an explicit certificate policy is required and none is valid`,
        ),
      };
    }

    if (isLeaf) {
      // §6.1.5 (a), (b)
      if (explicitPolicy > 0) explicitPolicy--;
      if (cert.requireExplicitPolicy === 0) explicitPolicy = 0;
      break;
    }

    // §6.1.4 (a), (b): policy mappings.
    if (cert.policyMappings) {
      if (cert.policyMappings.some((m) => m.issuer === ANY_POLICY || m.subject === ANY_POLICY)) {
        return { failure: fail('policy_invalid', `${who}: policyMappings maps to or from anyPolicy`) };
      }
      if (levels) {
        const level = levels[i]!;
        const byIssuer = new Map<string, string[]>();
        for (const m of cert.policyMappings) {
          byIssuer.set(m.issuer, [...(byIssuer.get(m.issuer) ?? []), m.subject]);
        }
        if (policyMapping > 0) {
          // (b)(1)
          for (const [issuerPolicy, subjects] of byIssuer) {
            const nodes = level.filter((node) => node.validPolicy === issuerPolicy);
            if (nodes.length > 0) {
              for (const node of nodes) {
                node.expected.clear();
                for (const s of subjects) node.expected.add(s);
              }
            } else {
              const any = level.find((node) => node.validPolicy === ANY_POLICY);
              if (any?.parent) {
                any.parent.children++;
                level.push({
                  validPolicy: issuerPolicy,
                  expected: new Set(subjects),
                  parent: any.parent,
                  children: 0,
                });
              }
            }
          }
        } else {
          // (b)(2): mapping inhibited: mapped policies are deleted.
          const doomed = level.filter((node) => byIssuer.has(node.validPolicy));
          if (doomed.length > 0) detach(doomed, levels, i);
          if (levels[0]!.length === 0) levels = undefined;
        }
      }
    }

    // §6.1.4 (h): counters, unless self-issued.
    if (!cert.selfIssued) {
      explicitPolicy = dec(explicitPolicy);
      policyMapping = dec(policyMapping);
      inhibitAnyPolicy = dec(inhibitAnyPolicy);
    }
    // §6.1.4 (i), (j)
    if (cert.requireExplicitPolicy !== undefined)
      explicitPolicy = Math.min(explicitPolicy, cert.requireExplicitPolicy);
    if (cert.inhibitPolicyMapping !== undefined)
      policyMapping = Math.min(policyMapping, cert.inhibitPolicyMapping);
    if (cert.inhibitAnyPolicy !== undefined)
      inhibitAnyPolicy = Math.min(inhibitAnyPolicy, cert.inhibitAnyPolicy);
  }

  return { explicitPolicy, leaves: levels ? levels[n]! : [] };
}

/**
 * The valid_policy_node_set of §6.1.5 (g)(ii) by policy: for each node of the last level, the
 * node of its branch whose parent is anyPolicy decides (mappings lead back to it); an anyPolicy
 * leaf stays anyPolicy.
 */
function authorityPolicies(leaves: readonly PolicyNode[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const node of leaves) {
    let top = node;
    while (top.parent && top.parent.validPolicy !== ANY_POLICY) top = top.parent;
    out.add(node.validPolicy === ANY_POLICY ? ANY_POLICY : top.validPolicy);
  }
  return out;
}
