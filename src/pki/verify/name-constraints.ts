import { describeGeneralName, type GeneralNameValue } from './general-name.js';
import { isWithinSubtree } from './name.js';
import type { NameConstraints, ParsedCertificate } from './parse.js';
import { type Failure, fail } from './types.js';

/** A nameConstraints extension in force, with the certificate that imposed it (for messages). */
export interface ActiveConstraints {
  readonly constraints: NameConstraints;
  readonly imposedBy: ParsedCertificate;
}

function dnsWithin(name: string, base: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  const b = base.toLowerCase().replace(/\.$/, '');
  if (b === '') return true;
  // ".example.com" (a common extension of RFC 5280) means subdomains only.
  if (b.startsWith('.')) return n.endsWith(b);
  // "example.com": the name itself or any name with more labels on the left (label boundary).
  return n === b || n.endsWith(`.${b}`);
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

function within(name: GeneralNameValue, base: GeneralNameValue): boolean {
  switch (name.type) {
    case 'dn':
      return base.type === 'dn' && isWithinSubtree(name.name, base.name);
    case 'dns':
      return base.type === 'dns' && dnsWithin(name.value, base.value);
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

const sameForm = (name: GeneralNameValue, base: GeneralNameValue): boolean =>
  name.type === base.type && (name.type !== 'other' || (base.type === 'other' && base.form === name.form));

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
  const { permitted, excluded } = active.constraints;
  const by = active.imposedBy.label;
  const what = `${cert.label}: ${describeGeneralName(name)}`;
  if (name.type === 'other') {
    // §4.2.1.10: a constraint on a name form we cannot process means we must reject.
    if ([...(permitted ?? []), ...excluded].some((base) => sameForm(name, base))) {
      return fail(
        'name_constraints',
        `${what} cannot be checked against the ${name.form} constraints of ${by}`,
      );
    }
    return undefined;
  }
  const permittedOfForm = (permitted ?? []).filter((base) => sameForm(name, base));
  if (permittedOfForm.length > 0 && !permittedOfForm.some((base) => within(name, base))) {
    return fail('name_constraints', `${what} is outside the permitted subtrees of ${by}`);
  }
  const hit = excluded.find((base) => sameForm(name, base) && within(name, base));
  if (hit)
    return fail(
      'name_constraints',
      `${what} is in the excluded subtree ${describeGeneralName(hit)} of ${by}`,
    );
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
): Failure | undefined {
  if (active.length === 0) return undefined;
  const names = namesOf(cert);
  for (const constraints of active) {
    for (const name of names) {
      const failure = checkOne(cert, name, constraints);
      if (failure) return failure;
    }
  }
  return undefined;
}
