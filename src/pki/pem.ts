import { badRequest } from '../errors/index.js';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface PemBlock {
  label: string;
  der: Buffer;
}

/**
 * Splits text into PEM blocks. Fails with `invalid_pem` on text that has no block, a block whose
 * BEGIN/END labels differ, or a body that is not base64, naming the block (1-based) so an admin
 * pasting a chain knows which certificate is broken.
 */
export function parsePemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  const stripped = text.replace(BLOCK, (_match, begin: string, body: string, end: string) => {
    const index = blocks.length + 1;
    if (begin !== end)
      throw badRequest('invalid_pem', `PEM block ${index}: BEGIN ${begin} does not match END ${end}`);
    const compact = body.replace(/\s+/g, '');
    if (compact.length === 0 || compact.length % 4 !== 0 || !BASE64.test(compact)) {
      throw badRequest('invalid_pem', `PEM block ${index} (${begin}): body is not valid base64`);
    }
    blocks.push({ label: begin, der: Buffer.from(compact, 'base64') });
    return '';
  });
  if (blocks.length === 0) throw badRequest('invalid_pem', 'no PEM block found (expected -----BEGIN …-----)');
  if (stripped.includes('-----BEGIN') || stripped.includes('-----END')) {
    throw badRequest('invalid_pem', 'unterminated PEM block');
  }
  return blocks;
}

/** Parses PEM text that must contain only blocks with the given label (e.g. CERTIFICATE). */
export function parsePem(text: string, label: string): Buffer[] {
  return parsePemBlocks(text).map((block, i) => {
    if (block.label !== label) {
      throw badRequest('invalid_pem', `PEM block ${i + 1}: expected ${label}, found ${block.label}`);
    }
    return block.der;
  });
}

export function toPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
