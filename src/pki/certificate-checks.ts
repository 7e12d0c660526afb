// Checks on the inputs of the certificate builders (certificates.ts): validity, subject names,
// SANs, CRL URLs. Each throws a GatehouseError (400) naming the bad value.
import { isIP } from 'node:net';
import type { JsonNameParams, Name } from '@peculiar/x509';
import { badRequest } from '../errors/index.js';
import { x509 } from './keys.js';

const MAX_VALIDITY_DAYS = 36_500;
/** RFC 5280 upper bounds (ub-common-name, ub-organization-name, ub-organizational-unit-name). */
const MAX_NAME_LENGTH = 64;

export function checkValidityDays(days: number): void {
  if (!Number.isFinite(days) || days <= 0 || days > MAX_VALIDITY_DAYS) {
    throw badRequest(
      'invalid_validity',
      `validityDays must be between 0 and ${MAX_VALIDITY_DAYS}, got ${days}`,
    );
  }
}

function checkNameValue(field: string, value: string): void {
  if (value.length === 0 || value.length > MAX_NAME_LENGTH) {
    throw badRequest('invalid_subject', `${field} must be 1..${MAX_NAME_LENGTH} characters`);
  }
  if ([...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw badRequest('invalid_subject', `${field} contains control characters`);
  }
}

interface SubjectFields {
  commonName: string;
  organization?: string;
  organizationalUnit?: string;
}

/** O, OU, CN in that order (RFC 4514: "CN=…,OU=…,O=…"), all UTF8String, values used verbatim. */
export function buildName(fields: SubjectFields): Name {
  const rdns: JsonNameParams = [];
  if (fields.organization !== undefined) {
    checkNameValue('organization', fields.organization);
    rdns.push({ O: [{ utf8String: fields.organization }] });
  }
  if (fields.organizationalUnit !== undefined) {
    checkNameValue('organizationalUnit', fields.organizationalUnit);
    rdns.push({ OU: [{ utf8String: fields.organizationalUnit }] });
  }
  checkNameValue('commonName', fields.commonName);
  rdns.push({ CN: [{ utf8String: fields.commonName }] });
  return new x509.Name(rdns);
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const DNS_NAME = new RegExp(`^(?:${LABEL}\\.)*${LABEL}$`, 'i');

export function checkDnsName(name: string, allowWildcard: boolean): void {
  const bare = allowWildcard && name.startsWith('*.') ? name.slice(2) : name;
  if (name.length > 253 || !DNS_NAME.test(bare)) {
    throw badRequest('invalid_san', `"${name}" is not a valid DNS name`);
  }
}

/**
 * Validates an IP address and spells it the way @peculiar/x509 can encode: IPv4 dotted quad, or
 * IPv6 as eight hex groups (its parser handles neither embedded IPv4 nor zone ids).
 */
export function normalizeIp(ip: string): string {
  const version = isIP(ip);
  if (version === 4) return ip;
  if (version !== 6 || ip.includes('%')) throw badRequest('invalid_san', `"${ip}" is not a valid IP address`);
  const halves = ip.split('::');
  const groups = (part: string | undefined) => {
    if (!part) return [];
    return part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [g];
      const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
      return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
    });
  };
  const left = groups(halves[0]);
  const right = groups(halves[1]);
  const fill = halves.length === 2 ? Array<string>(8 - left.length - right.length).fill('0') : [];
  return [...left, ...fill, ...right].join(':');
}

const ASCII_PRINTABLE = /^[\x21-\x7e]+$/;

export function checkEmail(email: string): void {
  if (!ASCII_PRINTABLE.test(email) || !/^[^@]+@[^@]+$/.test(email)) {
    throw badRequest('invalid_san', `"${email}" is not a valid email address (ASCII only)`);
  }
}

export function checkUri(uri: string): void {
  let ok = ASCII_PRINTABLE.test(uri);
  if (ok) {
    try {
      new URL(uri);
    } catch {
      ok = false;
    }
  }
  if (!ok) throw badRequest('invalid_san', `"${uri}" is not a valid absolute URI (ASCII only)`);
}

export function checkCrlUrl(url: string): void {
  let parsed: URL | undefined;
  try {
    parsed = ASCII_PRINTABLE.test(url) ? new URL(url) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw badRequest('invalid_crl_distribution_point', `"${url}" is not an http(s) URL`);
  }
}
