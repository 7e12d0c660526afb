import { describeGeneralName, type GeneralNameValue } from './general-name.js';
import { isWithinSubtree } from './name.js';
import type { NameConstraints, ParsedCertificate } from './parse.js';
import { type Failure, fail } from './types.js';
import type { WorkBudget } from './work.js';

/** A nameConstraints extension in force, with the certificate that imposed it (for messages). */
export interface ActiveConstraints {
  readonly constraints: NameConstraints;
  readonly imposedBy: ParsedCertificate;
}

const normalizeDns = (name: string) => name.toLowerCase().replace(/\.$/, '');

/** `name` and `base` normalized (normalizeDns): constraints are prepared once, names once per check. */
function dnsWithin(n: string, b: string): boolean {
  if (b === '') return true;
  // ".example.com" (a common extension of RFC 5280) means subdomains only.
  if (b.startsWith('.')) return n.endsWith(b);
  // "example.com": the name itself or any name with more labels on the left (label boundary).
  return n === b || (n.endsWith(b) && n.charCodeAt(n.length - b.length - 1) === 0x2e);
}

/**
 * A wildcard dNSName `*.S` stands for every `x.S` (x one label). It is inside a subtree only if
 * every such name is: when S itself is within the base, or the base is `.S`.
 */
function wildcardAllWithin(suffix: string, b: string): boolean {
  return dnsWithin(suffix, b) || `.${suffix}` === b;
}

/** It touches an excluded subtree if any `x.S` is in it: also when the base is `y.S` for one label y. */
function wildcardAnyWithin(suffix: string, b: string): boolean {
  const dot = b.indexOf('.');
  return wildcardAllWithin(suffix, b) || (dot > 0 && b.slice(dot + 1) === suffix);
}

/** RFC 5280 §4.2.1.10: a mailbox, all mailboxes at a host, or (leading dot) at any subdomain. */
function emailWithin(name: string, base: string): boolean {
  const at = name.lastIndexOf('@');
  if (at < 0) return false;
  const local = name.slice(0, at);
  const host = name.slice(at + 1).toLowerCase();
  const baseAt = base.lastIndexOf('@');
  if (baseAt >= 0) return local === base.slice(0, baseAt) && host === base.slice(baseAt + 1).toLowerCase();
  const b = base.toLowerCase();
  return b.startsWith('.') ? host.endsWith(b) : host === b;
}

function uriHost(uri: string): string | undefined {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/i.exec(uri);
  return m?.[1] ? m[1].toLowerCase() : undefined;
}

/** RFC 5280 §4.2.1.10: the constraint applies to the URI's host; a URI without one never matches. */
function uriWithin(name: string, base: string): boolean {
  const host = uriHost(name);
  if (host === undefined) return false;
  const b = base.toLowerCase();
  return b.startsWith('.') ? host.endsWith(b) : host === b;
}

/** An address (4 or 16 bytes) against address+mask (8 or 32 bytes). */
function ipWithin(address: Buffer, base: Buffer): boolean {
  if (base.length !== address.length * 2 || (address.length !== 4 && address.length !== 16)) return false;
  for (let i = 0; i < address.length; i++) {
    const mask = base[address.length + i]!;
    if ((address[i]! & mask) !== (base[i]! & mask)) return false;
  }
  return true;
}

/**
 * Is `name` within `base`? For a wildcard dNSName, `mode` says whether every name it matches
 * must be (permitted subtrees) or any one is enough (excluded subtrees).
 */
function within(name: GeneralNameValue, base: GeneralNameValue, mode: 'all' | 'any'): boolean {
  switch (name.type) {
    case 'dn':
      return base.type === 'dn' && isWithinSubtree(name.name, base.name);
    case 'dns':
      if (base.type !== 'dns') return false;
      if (name.value.startsWith('*.')) {
        const suffix = name.value.slice(2);
        return mode === 'all' ? wildcardAllWithin(suffix, base.value) : wildcardAnyWithin(suffix, base.value);
      }
      return dnsWithin(name.value, base.value);
    case 'email':
      return base.type === 'email' && emailWithin(name.value, base.value);
    case 'uri':
      return base.type === 'uri' && uriWithin(name.value, base.value);
    case 'ip':
      return base.type === 'ip' && ipWithin(name.bytes, base.bytes);
    case 'other':
      return false;
  }
}

const formOf = (name: GeneralNameValue): string => (name.type === 'other' ? `other:${name.form}` : name.type);

/**
 * dNSName subtrees indexed so that a name is checked against all of them with one lookup per
 * label of the name instead of one comparison per subtree.
 */
interface DnsIndex {
  readonly all: boolean; // an empty base: every name
  readonly plain: ReadonlySet<string>; // "example.com"
  readonly dotted: ReadonlySet<string>; // ".example.com"
  readonly parents: ReadonlySet<string>; // "example.com" for each plain "y.example.com"
}

function indexDns(bases: readonly GeneralNameValue[]): DnsIndex {
  const values = bases.flatMap((b) => (b.type === 'dns' ? [b.value] : []));
  return {
    all: values.includes(''),
    plain: new Set(values.filter((v) => v !== '' && !v.startsWith('.'))),
    dotted: new Set(values.filter((v) => v.startsWith('.'))),
    parents: new Set(
      values.filter((v) => !v.startsWith('.') && v.includes('.')).map((v) => v.slice(v.indexOf('.') + 1)),
    ),
  };
}

/** Is normalized, non-wildcard `n` within some base of the index (dnsWithin for each)? */
function dnsWithinAny(n: string, index: DnsIndex): boolean {
  if (index.all || index.plain.has(n)) return true;
  for (let dot = n.indexOf('.'); dot >= 0; dot = n.indexOf('.', dot + 1)) {
    if (index.plain.has(n.slice(dot + 1)) || index.dotted.has(n.slice(dot))) return true;
  }
  return false;
}

/** The dNSName rules for a whole set of subtrees: `within` for each base, in one pass. */
function dnsMatches(n: string, index: DnsIndex, mode: 'all' | 'any'): boolean {
  if (!n.startsWith('*.')) return dnsWithinAny(n, index);
  const suffix = n.slice(2);
  const all = dnsWithinAny(suffix, index) || index.dotted.has(`.${suffix}`);
  return all || (mode === 'any' && index.parents.has(suffix));
}

/** A nameConstraints extension's subtrees by name form, dNSName bases normalized and indexed. */
interface Prepared {
  readonly permitted?: ReadonlyMap<string, readonly GeneralNameValue[]>;
  readonly excluded: ReadonlyMap<string, readonly GeneralNameValue[]>;
  readonly permittedDns: DnsIndex;
  readonly excludedDns: DnsIndex;
}

function group(bases: readonly GeneralNameValue[]): Map<string, GeneralNameValue[]> {
  const byForm = new Map<string, GeneralNameValue[]>();
  for (const base of bases) {
    const prepared = base.type === 'dns' ? { type: 'dns' as const, value: normalizeDns(base.value) } : base;
    const list = byForm.get(formOf(base));
    if (list) list.push(prepared);
    else byForm.set(formOf(base), [prepared]);
  }
  return byForm;
}

/** Parsed certificates are cached and immutable, so their constraints are prepared once. */
const preparedConstraints = new WeakMap<NameConstraints, Prepared>();

function prepare(constraints: NameConstraints): Prepared {
  let prepared = preparedConstraints.get(constraints);
  if (!prepared) {
    const permitted = constraints.permitted ? group(constraints.permitted) : undefined;
    const excluded = group(constraints.excluded);
    prepared = {
      permitted,
      excluded,
      permittedDns: indexDns(permitted?.get('dns') ?? []),
      excludedDns: indexDns(excluded.get('dns') ?? []),
    };
    preparedConstraints.set(constraints, prepared);
  }
  return prepared;
}

/** The names of a certificate that name constraints apply to (RFC 5280 §6.1.3 (b), (c)). */
function namesOf(cert: ParsedCertificate): GeneralNameValue[] {
  const names: GeneralNameValue[] = [];
  if (cert.subject.rdns.length > 0) names.push({ type: 'dn', name: cert.subject });
  // rfc822Name constraints also cover emailAddress attributes in the subject (§4.2.1.10). RFC 5280
  // requires this only without a subjectAltName; we always do it, which is stricter.
  for (const value of cert.subject.emails) names.push({ type: 'email', value });
  names.push(...(cert.subjectAltNames ?? []));
  return names;
}

function checkOne(
  cert: ParsedCertificate,
  name: GeneralNameValue,
  active: ActiveConstraints,
): Failure | undefined {
  const { permitted, excluded, permittedDns, excludedDns } = prepare(active.constraints);
  const form = formOf(name);
  const permittedOfForm = permitted?.get(form) ?? [];
  const excludedOfForm = excluded.get(form) ?? [];
  const by = active.imposedBy.label;
  const what = () => `${cert.label}: ${describeGeneralName(name)}`;
  if (name.type === 'other') {
    // §4.2.1.10: a constraint on a name form we cannot process means we must reject.
    if (permittedOfForm.length > 0 || excludedOfForm.length > 0) {
      return fail(
        'name_constraints',
        `${what()} cannot be checked against the ${name.form} constraints of ${by}`,
      );
    }
    return undefined;
  }
  const subject = name.type === 'dns' ? { type: 'dns' as const, value: normalizeDns(name.value) } : name;
  const inPermitted =
    subject.type === 'dns'
      ? dnsMatches(subject.value, permittedDns, 'all')
      : permittedOfForm.some((base) => within(subject, base, 'all'));
  if (permittedOfForm.length > 0 && !inPermitted) {
    return fail('name_constraints', `${what()} is outside the permitted subtrees of ${by}`);
  }
  // The index answers whether; the linear search (only on a hit) says which, for the message.
  const excludedHit = subject.type === 'dns' ? dnsMatches(subject.value, excludedDns, 'any') : true;
  const hit = excludedHit ? excludedOfForm.find((base) => within(subject, base, 'any')) : undefined;
  if (hit) {
    return fail(
      'name_constraints',
      `${what()} is in the excluded subtree ${describeGeneralName(hit)} of ${by}`,
    );
  }
  return undefined;
}

/**
 * Checks a certificate's names against every nameConstraints extension above it in the path.
 * Checking each extension separately is equivalent to RFC 5280's intersection of permitted
 * subtrees and union of excluded ones, without computing either.
 */
export function checkNameConstraints(
  cert: ParsedCertificate,
  active: readonly ActiveConstraints[],
  budget: WorkBudget,
): Failure | undefined {
  if (active.length === 0) return undefined;
  const names = namesOf(cert);
  // Bounded before any comparison: names × subtrees, the cost Chromium caps.
  const subtrees = active.reduce(
    (n, a) => n + (a.constraints.permitted?.length ?? 0) + a.constraints.excluded.length,
    0,
  );
  if (!budget.spend(names.length * subtrees)) {
    return fail(
      'name_constraints_too_complex',
      `${cert.label}: ${names.length} names against ${subtrees} name-constraint subtrees exceeds ${budget.limit} checks`,
    );
  }
  for (const constraints of active) {
    for (const name of names) {
      const failure = checkOne(cert, name, constraints);
      if (failure) return failure;
    }
  }
  return undefined;
}
