import { isIPv4, isIPv6 } from 'node:net';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { type DistinguishedName, toDistinguishedName } from './name.js';
import { undecodable } from './undecodable.js';

/**
 * A GeneralName reduced to what name constraints and CRL distribution-point matching need.
 * `ip` holds 4/16 bytes for an address (subjectAltName) or 8/32 bytes address+mask (constraint).
 */
export type GeneralNameValue =
  | { readonly type: 'dns'; readonly value: string }
  | { readonly type: 'email'; readonly value: string }
  | { readonly type: 'uri'; readonly value: string }
  | { readonly type: 'ip'; readonly bytes: Buffer }
  | { readonly type: 'dn'; readonly name: DistinguishedName }
  | { readonly type: 'other'; readonly form: string };

function ipv4Bytes(text: string): number[] {
  return text.split('.').map((part) => Number(part));
}

function ipv6Bytes(text: string): number[] {
  const [head = '', tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

function maskBytes(prefix: number, length: number): number[] {
  return Array.from({ length }, (_, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return (0xff << (8 - bits)) & 0xff;
  });
}

/**
 * The ASN.1 decoder renders iPAddress as text ("10.0.0.1", "10.0.0.0/8", "2001:db8::/32"); turn
 * it back into bytes. A non-contiguous constraint mask is rendered as its number of set bits, so
 * it comes back contiguous; such masks are not used in practice. Anything unparseable yields an
 * empty buffer, which matches nothing.
 */
function ipFromText(text: string): Buffer {
  const [addr = '', prefixText] = text.split('/');
  const v4 = isIPv4(addr);
  if (!v4 && !isIPv6(addr)) return Buffer.alloc(0);
  const bytes = v4 ? ipv4Bytes(addr) : ipv6Bytes(addr);
  if (prefixText === undefined) return Buffer.from(bytes);
  return Buffer.from([...bytes, ...maskBytes(Number(prefixText), bytes.length)]);
}

export function toGeneralName(gn: GeneralName): GeneralNameValue {
  if (gn.dNSName !== undefined) return { type: 'dns', value: gn.dNSName };
  if (gn.rfc822Name !== undefined) return { type: 'email', value: gn.rfc822Name };
  if (gn.uniformResourceIdentifier !== undefined) return { type: 'uri', value: gn.uniformResourceIdentifier };
  if (gn.iPAddress !== undefined) return { type: 'ip', bytes: ipFromText(gn.iPAddress) };
  if (gn.directoryName !== undefined) return { type: 'dn', name: toDistinguishedName(gn.directoryName) };
  if (gn.otherName !== undefined) return { type: 'other', form: 'otherName' };
  if (gn.registeredID !== undefined) return { type: 'other', form: 'registeredID' };
  if (gn.ediPartyName !== undefined) return { type: 'other', form: 'ediPartyName' };
  return { type: 'other', form: 'x400Address' };
}

/**
 * Most subjectAltNames a certificate may carry. Checked on a shallow decode, before any name is
 * converted; real client certificates have a handful.
 */
export const MAX_SUBJECT_ALT_NAMES = 4096;

/** Context tags of the GeneralName forms that are a plain IA5String or OCTET STRING. */
const STRING_FORMS: Readonly<Record<number, 'email' | 'dns' | 'uri'>> = { 1: 'email', 2: 'dns', 6: 'uri' };
const IP_TAG = 7;

/**
 * Decodes a certificate's subjectAltName (GeneralNames) extension value; throws
 * `invalid_certificate` when it does not decode. The ASN.1 schema decoder spends ~0.1 ms per name,
 * so a 1,000-name certificate cost 100 ms before any check: the string and address forms are read
 * straight from asn1js's shallow decode (~10 µs each), the rare structured forms (directoryName,
 * otherName…) still go through the schema decoder.
 */
export function decodeGeneralNames(der: Uint8Array): GeneralNameValue[] {
  const parsed = asn1js.fromBER(der);
  const seq = parsed.result;
  if (parsed.offset === -1 || parsed.offset !== der.byteLength || !(seq instanceof asn1js.Sequence)) {
    throw undecodable('certificate', 'subjectAltName is not a DER SEQUENCE');
  }
  const items = seq.valueBlock.value;
  if (items.length === 0) throw undecodable('certificate', 'subjectAltName is empty');
  if (items.length > MAX_SUBJECT_ALT_NAMES) {
    throw undecodable(
      'certificate',
      `subjectAltName has ${items.length} names, more than ${MAX_SUBJECT_ALT_NAMES}`,
    );
  }
  return items.map((item) => {
    const { tagClass, tagNumber, isConstructed } = item.idBlock;
    if (tagClass === 3 && !isConstructed) {
      const bytes = Buffer.from((item.valueBlock as unknown as { valueHexView: Uint8Array }).valueHexView);
      if (tagNumber === IP_TAG) return { type: 'ip', bytes };
      const form = STRING_FORMS[tagNumber];
      // IA5String: non-ASCII bytes survive as latin1 and fail the syntax checks.
      if (form) return { type: form, value: bytes.toString('latin1') };
    }
    return toGeneralName(AsnConvert.parse(item.valueBeforeDecodeView, GeneralName));
  });
}

/** Name equality for distribution-point matching (RFC 5280 §6.3.3 (b)(2)(i)). */
export function sameGeneralName(a: GeneralNameValue, b: GeneralNameValue): boolean {
  switch (a.type) {
    case 'dn':
      return b.type === 'dn' && a.name.key === b.name.key;
    case 'dns':
      return b.type === 'dns' && a.value.toLowerCase() === b.value.toLowerCase();
    case 'ip':
      return b.type === 'ip' && a.bytes.equals(b.bytes);
    case 'email':
    case 'uri':
      return b.type === a.type && a.value === b.value;
    case 'other':
      return false; // never matched: we cannot compare forms we do not decode
  }
}

function addressText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const groups: string[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
  return groups.join(':');
}

/** 10.0.0.1, 10.0.0.0/255.0.0.0-style masks as prefix lengths, IPv6 uncompressed. */
function ipText(bytes: Buffer): string {
  if (bytes.length === 4 || bytes.length === 16) return addressText(bytes);
  if (bytes.length !== 8 && bytes.length !== 32) return `(${bytes.length} bytes)`;
  const half = bytes.length / 2;
  let prefix = 0;
  for (const b of bytes.subarray(half)) prefix += b.toString(2).replace(/0/g, '').length;
  return `${addressText(bytes.subarray(0, half))}/${prefix}`;
}

export function describeGeneralName(gn: GeneralNameValue): string {
  switch (gn.type) {
    case 'dn':
      return `directoryName "${gn.name.text}"`;
    case 'dns':
      return `dNSName "${gn.value}"`;
    case 'email':
      return `rfc822Name "${gn.value}"`;
    case 'uri':
      return `URI "${gn.value}"`;
    case 'ip':
      return `iPAddress ${ipText(gn.bytes)}`;
    case 'other':
      return gn.form;
  }
}
