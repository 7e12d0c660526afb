/**
 * A minimal DER writer for structures that grow with the data (a CRL with 100,000 entries):
 * asn1-schema builds an object graph per element and costs ~200 µs per CRL entry, which made
 * re-signing a large CRL take tens of seconds. These helpers write the bytes directly. Anything
 * of fixed size (names, extensions, algorithm identifiers) still comes from @peculiar/x509.
 */

/** Octets of the definite length form for `length`. */
function lengthSize(length: number): number {
  if (length < 0x80) return 1;
  let octets = 0;
  for (let n = length; n > 0; n = Math.floor(n / 256)) octets++;
  return 1 + octets;
}

export const DER_TAG = {
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  enumerated: 0x0a,
  utcTime: 0x17,
  generalizedTime: 0x18,
  sequence: 0x30,
  /** [0] EXPLICIT, constructed. */
  context0: 0xa0,
} as const;

/** Tag, length, contents (one value, or several written one after the other). */
export function derTlv(tag: number, contents: Uint8Array | readonly Uint8Array[]): Buffer {
  const parts = contents instanceof Uint8Array ? [contents] : contents;
  let length = 0;
  for (const part of parts) length += part.length;
  const size = lengthSize(length);
  // One allocation per element: this runs once per CRL entry field.
  const out = Buffer.allocUnsafe(1 + size + length);
  out[0] = tag;
  if (size === 1) out[1] = length;
  else {
    out[1] = 0x80 | (size - 1);
    for (let i = size - 1, n = length; i >= 1; i--, n = Math.floor(n / 256)) out[1 + i] = n & 0xff;
  }
  let offset = 1 + size;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A non-negative INTEGER from its minimal big-endian magnitude (a 0x00 pad is added when needed). */
export function derUnsignedInteger(magnitude: Uint8Array): Buffer {
  if (magnitude.length === 0) throw new RangeError('an INTEGER needs at least one octet');
  const padded = (magnitude[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude;
  return derTlv(DER_TAG.integer, padded);
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * RFC 5280 §4.1.2.5 Time: UTCTime through 2049, GeneralizedTime from 2050, both in UTC with
 * seconds and without fractions (milliseconds are dropped, as every X.509 encoder does).
 */
export function derTime(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest =
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  if (year >= 1950 && year < 2050)
    return derTlv(DER_TAG.utcTime, Buffer.from(two(year % 100) + rest, 'ascii'));
  return derTlv(DER_TAG.generalizedTime, Buffer.from(String(year).padStart(4, '0') + rest, 'ascii'));
}

export interface DerElement {
  tag: number;
  /** The whole element, header included. */
  raw: Uint8Array;
  content: Uint8Array;
}

/**
 * Reads the DER elements laid end to end in `bytes` (one level, definite lengths of at most
 * 4 octets); undefined when `bytes` is not such a sequence of elements.
 */
export function readDerElements(bytes: Uint8Array): DerElement[] | undefined {
  const out: DerElement[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const tag = bytes[pos];
    let lenByte = bytes[pos + 1];
    if (tag === undefined || lenByte === undefined || (tag & 0x1f) === 0x1f) return undefined;
    let header = 2;
    let length = lenByte;
    if (lenByte & 0x80) {
      const n = lenByte & 0x7f;
      if (n === 0 || n > 4) return undefined;
      length = 0;
      for (let i = 0; i < n; i++) {
        lenByte = bytes[pos + 2 + i];
        if (lenByte === undefined) return undefined;
        length = length * 256 + lenByte;
      }
      header += n;
    }
    const end = pos + header + length;
    if (end > bytes.length) return undefined;
    out.push({ tag, raw: bytes.subarray(pos, end), content: bytes.subarray(pos + header, end) });
    pos = end;
  }
  return out;
}
