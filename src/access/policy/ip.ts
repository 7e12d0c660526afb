import { badRequest } from '../../errors/index.js';

/**
 * IP addresses and CIDR ranges for `ip` rules. Parsing is hand-written so that matching a client
 * address costs no allocation: the address is written into a caller-owned `Uint32Array(4)`.
 *
 * Representation: an IPv4 address is family 4 with the address in `words[0]`; an IPv6 address is
 * family 6 with its 128 bits in `words[0..3]` (big-endian). IPv4-mapped IPv6 addresses
 * (`::ffff:192.0.2.1`, what a dual-stack Node listener reports for IPv4 clients) are IPv4.
 */

export type AddressFamily = 4 | 6;

export interface Cidr {
  readonly family: AddressFamily;
  readonly prefix: number;
  /** Network bits (host bits zero); IPv4 in index 0. */
  readonly network: Uint32Array;
  readonly mask: Uint32Array;
}

const groups = new Int32Array(8);

const isDigit = (c: number) => c >= 48 && c <= 57;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Strict dotted quad in `s[start, end)`: four decimal octets, no leading zeros. -1 when invalid. */
function parseIPv4(s: string, start: number, end: number): number {
  let value = 0;
  let octets = 0;
  let i = start;
  while (true) {
    const first = i;
    let octet = 0;
    while (i < end && isDigit(s.charCodeAt(i))) {
      octet = octet * 10 + (s.charCodeAt(i) - 48);
      i++;
    }
    const digits = i - first;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && s.charCodeAt(first) === 48)) return -1;
    value = value * 256 + octet;
    octets++;
    if (i === end) break;
    if (octets === 4 || s.charCodeAt(i) !== 46) return -1;
    i++;
  }
  return octets === 4 ? value : -1;
}

/** RFC 4291 text form in `s[0, end)`, with an optional trailing dotted quad. Fills `groups`. */
function parseIPv6Groups(s: string, end: number): boolean {
  let n = 0;
  let gap = -1;
  let i = 0;
  if (end < 2) return false;
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    const start = i;
    let value = 0;
    while (i < end) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      // A trailing IPv4 address fills the last two groups.
      if (n > 6) return false;
      const v4 = parseIPv4(s, start, end);
      if (v4 < 0) return false;
      groups[n++] = Math.floor(v4 / 65536);
      groups[n++] = v4 % 65536;
      i = end;
      break;
    }
    if (i === start || i - start > 4 || n === 8) return false;
    groups[n++] = value;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap < 0) return n === 8;
  if (n > 7) return false;
  // Move the groups after "::" to the end and zero the gap.
  const tail = n - gap;
  for (let k = 0; k < tail; k++) groups[7 - k] = groups[n - 1 - k] as number;
  for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  return true;
}

/**
 * Parses `text` into `out` and returns its family, or 0 when it is not an IP address. An IPv6 zone
 * (`fe80::1%eth0`) is ignored; IPv4-mapped IPv6 addresses come back as family 4.
 */
export function parseAddress(text: string, out: Uint32Array): 0 | AddressFamily {
  const len = text.length;
  if (len === 0 || len > 64) return 0;
  let colon = false;
  let zone = len;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) colon = true;
    else if (c === 37) {
      zone = i;
      break;
    }
  }
  if (!colon) {
    if (zone !== len) return 0;
    const v4 = parseIPv4(text, 0, len);
    if (v4 < 0) return 0;
    out[0] = v4;
    return 4;
  }
  if (zone !== len && zone === len - 1) return 0;
  if (!parseIPv6Groups(text, zone)) return 0;
  for (let k = 0; k < 4; k++) {
    out[k] = (groups[2 * k] as number) * 65536 + (groups[2 * k + 1] as number);
  }
  if (out[0] === 0 && out[1] === 0 && out[2] === 0xffff) {
    out[0] = out[3] as number;
    return 4;
  }
  return 6;
}

function maskWord(prefix: number, wordIndex: number): number {
  const bits = Math.min(32, Math.max(0, prefix - 32 * wordIndex));
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
}

function formatIPv4(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

function formatIPv6(words: Uint32Array): string {
  const g: number[] = [];
  for (let k = 0; k < 4; k++) g.push((words[k] as number) >>> 16, (words[k] as number) & 0xffff);
  // RFC 5952: compress the longest run of two or more zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/**
 * Parses a CIDR range (`10.0.0.0/8`, `2001:db8::/32`; a plain address is /32 or /128). Host bits
 * must be zero, so a typo such as `10.1.0.0/8` is caught at write time instead of silently
 * widening the rule. An IPv4-mapped IPv6 range (`::ffff:10.0.0.0/104`) is its IPv4 range.
 * Throws GatehouseError 400 `invalid_cidr`.
 */
export function parseCidr(text: string): Cidr {
  const invalid = (why: string) => badRequest('invalid_cidr', `"${text}" is not a CIDR range: ${why}`);
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  if (addressText.includes('%')) throw invalid('zone identifiers are not allowed');
  const words = new Uint32Array(4);
  const family = parseAddress(addressText, words);
  if (family === 0) throw invalid('expected an IPv4 or IPv6 address, optionally followed by /prefix');
  // An IPv4-mapped address was folded to IPv4 by parseAddress; its prefix counts from bit 96.
  const mapped = family === 4 && addressText.includes(':');
  const max = family === 4 && !mapped ? 32 : 128;
  let prefix: number;
  if (slash < 0) {
    prefix = max;
  } else {
    const p = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) throw invalid(`the prefix must be 0 to ${max}`);
    prefix = Number(p);
  }
  if (mapped) {
    if (prefix < 96) throw invalid('an IPv4-mapped range needs a prefix of at least 96');
    prefix -= 96;
  }
  const mask = new Uint32Array(4);
  const network = new Uint32Array(4);
  const count = family === 4 ? 1 : 4;
  for (let k = 0; k < count; k++) {
    mask[k] = family === 4 ? maskWord(prefix, 0) : maskWord(prefix, k);
    network[k] = ((words[k] as number) & (mask[k] as number)) >>> 0;
    if (network[k] !== words[k]) {
      const canonical = family === 4 ? formatIPv4(network[0] as number) : formatIPv6(network);
      throw invalid(`host bits are set (did you mean ${canonical}/${mapped ? prefix + 96 : prefix}?)`);
    }
  }
  return { family, prefix, network, mask };
}

/** Whether the address in `words` (as filled by parseAddress) lies in `cidr`. */
export function cidrContains(cidr: Cidr, family: AddressFamily, words: Uint32Array): boolean {
  if (cidr.family !== family) return false;
  const { network, mask } = cidr;
  if (family === 4) return ((words[0] as number) & (mask[0] as number)) >>> 0 === network[0];
  for (let k = 0; k < 4; k++) {
    if (((words[k] as number) & (mask[k] as number)) >>> 0 !== network[k]) return false;
  }
  return true;
}
