import type { AttributeTypeAndValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { ATTRIBUTE_NAMES, OID } from './oids.js';

/**
 * One relative distinguished name. `atoms` are `type=value` strings, normalized for comparison
 * and sorted, because an RDN is a SET and its order carries no meaning.
 */
export interface Rdn {
  readonly atoms: readonly string[];
  readonly text: string;
  readonly emails: readonly string[];
}

/** A distinguished name prepared once for comparison (RFC 5280 §7.1) and for messages. */
export interface DistinguishedName {
  /** RDNs in encoding order (most general first). */
  readonly rdns: readonly Rdn[];
  /** Equal keys ⇔ the names match. Used as the lookup key when searching for issuers. */
  readonly key: string;
  /** Readable form, most specific RDN first (RFC 4514 order), for failure reasons. */
  readonly text: string;
  /** Values of emailAddress attributes, which rfc822Name constraints also apply to. */
  readonly emails: readonly string[];
}

/**
 * RFC 5280 §7.1 asks for RFC 4518 string preparation before comparing. This is the part of it
 * that matters in practice (and in PKITS 4.3): compatibility normalization, case folding, and
 * insignificant whitespace (leading/trailing dropped, internal runs collapsed to one space).
 * Applied to every string type, as OpenSSL's canonical name encoding does.
 */
function prepareString(value: string): string {
  return value.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

function attributeString(atv: AttributeTypeAndValue): string | undefined {
  const v = atv.value;
  return (
    v.utf8String ?? v.printableString ?? v.ia5String ?? v.bmpString ?? v.universalString ?? v.teletexString
  );
}

function atomOf(atv: AttributeTypeAndValue): string {
  const s = attributeString(atv);
  if (s !== undefined) return `${atv.type}=s:${prepareString(s)}`;
  // Types that are not strings (or that the decoder does not know) compare by their encoding.
  const raw = atv.value.anyValue ? Buffer.from(atv.value.anyValue).toString('hex') : '';
  return `${atv.type}=x:${raw}`;
}

function displayOf(atv: AttributeTypeAndValue): string {
  const s = attributeString(atv);
  const value = s ?? `#${atv.value.anyValue ? Buffer.from(atv.value.anyValue).toString('hex') : ''}`;
  return `${ATTRIBUTE_NAMES[atv.type] ?? atv.type}=${value}`;
}

export function toRdn(rdn: RelativeDistinguishedName): Rdn {
  const atvs = [...rdn];
  const emails: string[] = [];
  for (const atv of atvs) {
    if (atv.type !== OID.emailAddress) continue;
    const s = attributeString(atv);
    if (s !== undefined) emails.push(s);
  }
  return {
    atoms: atvs.map(atomOf).sort(),
    text: atvs.map(displayOf).join('+'),
    emails,
  };
}

export function distinguishedName(rdns: readonly Rdn[]): DistinguishedName {
  return {
    rdns,
    // JSON keeps the key unambiguous whatever characters the values contain.
    key: JSON.stringify(rdns.map((r) => r.atoms)),
    text:
      rdns.length === 0
        ? '(empty name)'
        : [...rdns]
            .reverse()
            .map((r) => r.text)
            .join(', '),
    emails: rdns.flatMap((r) => r.emails),
  };
}

export function toDistinguishedName(name: Name): DistinguishedName {
  return distinguishedName([...name].map(toRdn));
}

/** The DN formed by appending one RDN (nameRelativeToCRLIssuer, RFC 5280 §4.2.1.13). */
export function appendRdn(dn: DistinguishedName, rdn: Rdn): DistinguishedName {
  return distinguishedName([...dn.rdns, rdn]);
}

function sameRdn(a: Rdn, b: Rdn): boolean {
  return a.atoms.length === b.atoms.length && a.atoms.every((atom, i) => atom === b.atoms[i]);
}

/** True when `base` is a prefix of `name` (directoryName subtree match, RFC 5280 §4.2.1.10). */
export function isWithinSubtree(name: DistinguishedName, base: DistinguishedName): boolean {
  if (base.rdns.length > name.rdns.length) return false;
  return base.rdns.every((rdn, i) => sameRdn(rdn, name.rdns[i]!));
}
