/**
 * A strict reader of an HTTP/1.x request head, for connections the edge refuses whatever they ask
 * (enforce mode without a valid certificate, unknown or no SNI): it only needs the method, Host
 * and Accept to pick the answer (400, 421 or the 403 page), and never forwards anything, so
 * everything beyond that is either ignored (the body: the connection closes after the answer)
 * or, when unusual, refused as malformed (400), as Node's own parser would.
 */

export const MAX_HEAD_BYTES = 16 * 1024; // the edge's maxHeaderSize

export type RequestHead =
  | { kind: 'incomplete' }
  | { kind: 'too_large' }
  | { kind: 'malformed' }
  | { kind: 'request'; method: string; target: string; host?: string; accept?: string };

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([^\s]+) HTTP\/1\.[01]$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Control characters but HTAB; matching them is the point of the class.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

const isBlank = (c: number) => c === 0x20 || c === 0x09;

/**
 * One header line → [lower-case name, value without surrounding blanks], or undefined when
 * malformed. No backtracking regex: lines come from unauthenticated clients, and a pattern with
 * overlapping blank runs is cubic on a long run of blanks.
 */
function headerLine(line: string): [string, string] | undefined {
  const colon = line.indexOf(':');
  if (colon <= 0) return undefined;
  const name = line.slice(0, colon);
  if (!TOKEN.test(name)) return undefined;
  let start = colon + 1;
  let end = line.length;
  while (start < end && isBlank(line.charCodeAt(start))) start++;
  while (end > start && isBlank(line.charCodeAt(end - 1))) end--;
  const value = line.slice(start, end);
  if (CONTROL.test(value)) return undefined;
  return [name.toLowerCase(), value];
}

/**
 * Reads the head at the start of `buf` (bytes received so far on the connection). `searchedTo`:
 * how many bytes of `buf` an earlier call already looked at (and found incomplete), so that a
 * head arriving in many small pieces is scanned once, not once per piece.
 */
export function readRequestHead(buf: Buffer, searchedTo = 0): RequestHead {
  const end = buf.indexOf('\r\n\r\n', Math.max(0, searchedTo - 3));
  // A bare LF (an LF not after a CR) in the head is malformed now: node:http would not wait for
  // a CRLF CRLF that may never come either.
  const headEnd = end === -1 ? Math.min(buf.length, MAX_HEAD_BYTES + 4) : end;
  for (
    let lf = buf.indexOf(0x0a, Math.max(0, searchedTo - 1));
    lf !== -1 && lf < headEnd;
    lf = buf.indexOf(0x0a, lf + 1)
  )
    if (lf === 0 || buf[lf - 1] !== 0x0d) return { kind: 'malformed' };
  if (end === -1) return buf.length > MAX_HEAD_BYTES ? { kind: 'too_large' } : { kind: 'incomplete' };
  if (end > MAX_HEAD_BYTES) return { kind: 'too_large' };
  // latin1 maps each byte to one code unit: no decoding surprises, control bytes stay visible.
  let text = buf.toString('latin1', 0, end);
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
  while (text.startsWith('\r\n')) text = text.slice(2);
  const lines = text.split('\r\n');
  const line = REQUEST_LINE.exec(lines[0] ?? '');
  if (!line) return { kind: 'malformed' };
  let host: string | undefined;
  let accept: string | undefined;
  for (let i = 1; i < lines.length; i++) {
    // Also refuses obs-fold (a line starting with whitespace) and bare CR or LF inside a line.
    const header = headerLine(lines[i] as string);
    if (!header) return { kind: 'malformed' };
    const [name, value] = header;
    if (name === 'host') {
      if (host !== undefined) return { kind: 'malformed' }; // RFC 9112 §3.2: exactly one Host
      host = value;
    } else if (name === 'accept') {
      accept = accept === undefined ? value : `${accept}, ${value}`;
    }
  }
  return {
    kind: 'request',
    method: line[1] as string,
    target: line[2] as string,
    ...(host !== undefined ? { host } : {}),
    ...(accept !== undefined ? { accept } : {}),
  };
}
