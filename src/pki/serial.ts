import { randomBytes } from 'node:crypto';

/**
 * A fresh serial: 16 random bytes with the top bit of the first byte cleared (so the DER INTEGER
 * is positive without a 0x00 pad) and the first byte non-zero (so DER does not strip it): always
 * 16 content bytes, 127 bits of randomness minus the excluded 0x00 lead byte. Lowercase hex.
 */
export function generateSerialNumber(): string {
  for (;;) {
    const bytes = randomBytes(16);
    bytes[0] = (bytes[0] ?? 0) & 0x7f;
    if (bytes[0] !== 0) return bytes.toString('hex');
  }
}
