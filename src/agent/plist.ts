// A small, strict parser for the XML property lists MDM tools push (Apple's plist format, the
// subset a configuration needs): <plist> holding one value, where a value is <dict> (<key>/value
// pairs), <array>, <string>, <integer>, <true/> or <false/>. XML comments, an XML declaration and a
// DOCTYPE without an internal subset are accepted; anything else (other elements, attributes, stray
// text, unknown entities, duplicate keys, DTD entity definitions) is an error naming line and column.

export type PlistValue = string | number | boolean | PlistValue[] | PlistDict;
export type PlistDict = Map<string, PlistValue>;

export class PlistError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`line ${line}, column ${column}: ${message}`);
    this.name = 'PlistError';
  }
}

const MAX_LENGTH = 1024 * 1024;
const MAX_DEPTH = 32;
const NAME = /[A-Za-z_][\w.-]*/y;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const UNSUPPORTED = new Set(['real', 'date', 'data']);

interface Tag {
  name: string;
  attributes: Map<string, string>;
  selfClosing: boolean;
  /** Offset of '<'. */
  at: number;
}

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  fail(message: string, at = this.pos): never {
    const before = this.text.slice(0, at);
    const line = before.split('\n').length;
    throw new PlistError(message, line, at - before.lastIndexOf('\n'));
  }

  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }

  expect(s: string): void {
    if (!this.startsWith(s)) this.fail(`expected ${JSON.stringify(s)}`);
    this.pos += s.length;
  }

  skipSpace(): void {
    while (this.pos < this.text.length && ' \t\r\n'.includes(this.text[this.pos] as string)) this.pos++;
  }

  /** Whitespace and comments between elements. */
  skipMisc(): void {
    for (;;) {
      this.skipSpace();
      if (!this.startsWith('<!--')) return;
      const end = this.text.indexOf('-->', this.pos + 4);
      if (end < 0) this.fail('unterminated comment');
      if (this.text.slice(this.pos + 4, end).includes('--')) this.fail("'--' inside a comment");
      this.pos = end + 3;
    }
  }

  name(): string {
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.text);
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }

  /** `<?xml …?>`, comments, `<!DOCTYPE …>` (no internal subset) before the root element. */
  prolog(): void {
    if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1;
    if (this.startsWith('<?xml')) {
      const end = this.text.indexOf('?>', this.pos);
      if (end < 0) this.fail('unterminated XML declaration');
      this.pos = end + 2;
    }
    let doctype = false;
    for (;;) {
      this.skipMisc();
      if (this.startsWith('<?')) this.fail('processing instructions are not allowed');
      if (!this.startsWith('<!DOCTYPE')) return;
      if (doctype) this.fail('a second DOCTYPE');
      doctype = true;
      const start = this.pos;
      let quote = '';
      for (this.pos += 9; this.pos < this.text.length; this.pos++) {
        const c = this.text[this.pos] as string;
        if (quote) {
          if (c === quote) quote = '';
        } else if (c === '"' || c === "'") quote = c;
        else if (c === '[')
          this.fail('a DOCTYPE with an internal subset (entity definitions) is not allowed');
        else if (c === '>') break;
      }
      if (this.pos >= this.text.length) this.fail('unterminated DOCTYPE', start);
      this.pos++;
    }
  }

  /** An opening (or self-closing) tag at the current position. */
  openTag(): Tag {
    const at = this.pos;
    if (this.startsWith('</')) this.fail('unexpected closing tag');
    if (this.startsWith('<!') || this.startsWith('<?')) this.fail('unexpected markup');
    this.expect('<');
    const name = this.name();
    const attributes = new Map<string, string>();
    for (;;) {
      const hadSpace = /\s/.test(this.text[this.pos] ?? '');
      this.skipSpace();
      if (this.startsWith('/>')) {
        this.pos += 2;
        return { name, attributes, selfClosing: true, at };
      }
      if (this.startsWith('>')) {
        this.pos += 1;
        return { name, attributes, selfClosing: false, at };
      }
      if (this.pos >= this.text.length) this.fail(`unterminated <${name}> tag`, at);
      if (!hadSpace) this.fail(`malformed <${name}> tag`);
      const attrAt = this.pos;
      const attr = this.name();
      this.skipSpace();
      this.expect('=');
      this.skipSpace();
      const quote = this.text[this.pos];
      if (quote !== '"' && quote !== "'") this.fail('expected a quoted attribute value');
      const end = this.text.indexOf(quote, this.pos + 1);
      if (end < 0) this.fail('unterminated attribute value');
      if (attributes.has(attr)) this.fail(`duplicate attribute ${attr}`, attrAt);
      attributes.set(attr, this.decode(this.text.slice(this.pos + 1, end), this.pos + 1));
      this.pos = end + 1;
    }
  }

  closeTag(name: string): void {
    if (!this.startsWith('</')) this.fail(`expected </${name}>`);
    this.pos += 2;
    const at = this.pos;
    const found = this.name();
    if (found !== name) this.fail(`</${found}> does not close <${name}>`, at);
    this.skipSpace();
    this.expect('>');
  }

  /** Replaces the five XML entities and character references; anything else is an error. */
  decode(raw: string, at: number): string {
    if (raw.includes('<')) this.fail("'<' in text or attribute value", at + raw.indexOf('<'));
    return raw.replace(/&([^;&\s]*);?/g, (match, ref: string, offset: number) => {
      const where = at + offset;
      if (!match.endsWith(';')) this.fail("'&' that does not start an entity reference (write &amp;)", where);
      if (ref in ENTITIES) return ENTITIES[ref] as string;
      const num = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(ref);
      if (!num) this.fail(`unknown entity &${ref};`, where);
      const code = num[1] !== undefined ? parseInt(num[1], 16) : Number(num[2]);
      const valid =
        code === 0x9 ||
        code === 0xa ||
        code === 0xd ||
        (code >= 0x20 && code <= 0xd7ff) ||
        (code >= 0xe000 && code <= 0xfffd) ||
        (code >= 0x10000 && code <= 0x10ffff);
      if (!valid) this.fail(`character reference &${ref}; is not an XML character`, where);
      return String.fromCodePoint(code);
    });
  }

  /** Character data up to the closing tag of a text element (entities and CDATA sections). */
  textContent(tag: Tag): string {
    if (tag.selfClosing) return '';
    let out = '';
    for (;;) {
      const lt = this.text.indexOf('<', this.pos);
      if (lt < 0) this.fail(`unterminated <${tag.name}>`, tag.at);
      out += this.decode(this.text.slice(this.pos, lt), this.pos);
      this.pos = lt;
      if (this.startsWith('<![CDATA[')) {
        const end = this.text.indexOf(']]>', this.pos);
        if (end < 0) this.fail('unterminated CDATA section');
        out += this.text.slice(this.pos + 9, end);
        this.pos = end + 3;
        continue;
      }
      if (this.startsWith('<!--')) {
        this.skipMisc();
        continue;
      }
      if (!this.startsWith('</')) this.fail(`<${tag.name}> holds text only`);
      this.closeTag(tag.name);
      return out;
    }
  }

  noAttributes(tag: Tag): void {
    const first = tag.attributes.keys().next();
    if (!first.done) this.fail(`unexpected attribute ${first.value} on <${tag.name}>`, tag.at);
  }

  /** A value element at the current position. */
  value(depth: number): PlistValue {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    const tag = this.openTag();
    this.noAttributes(tag);
    switch (tag.name) {
      case 'string':
        return this.textContent(tag);
      case 'integer': {
        const raw = this.textContent(tag).trim();
        const n = Number(raw);
        if (!/^[+-]?[0-9]+$/.test(raw) || !Number.isSafeInteger(n))
          this.fail(`<integer> must hold a whole number, not ${JSON.stringify(raw)}`, tag.at);
        return n;
      }
      case 'true':
      case 'false':
        if (!tag.selfClosing) {
          this.skipMisc();
          this.closeTag(tag.name);
        }
        return tag.name === 'true';
      case 'array': {
        const items: PlistValue[] = [];
        if (tag.selfClosing) return items;
        for (;;) {
          this.skipMisc();
          if (this.startsWith('</')) {
            this.closeTag('array');
            return items;
          }
          this.checkElementStart();
          items.push(this.value(depth + 1));
        }
      }
      case 'dict': {
        const dict: PlistDict = new Map();
        if (tag.selfClosing) return dict;
        for (;;) {
          this.skipMisc();
          if (this.startsWith('</')) {
            this.closeTag('dict');
            return dict;
          }
          this.checkElementStart();
          const keyAt = this.pos;
          const keyTag = this.openTag();
          if (keyTag.name !== 'key') this.fail(`expected <key> in <dict>, found <${keyTag.name}>`, keyAt);
          this.noAttributes(keyTag);
          const key = this.textContent(keyTag);
          if (dict.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`, keyAt);
          this.skipMisc();
          if (this.startsWith('</')) this.fail(`key ${JSON.stringify(key)} has no value`);
          this.checkElementStart();
          dict.set(key, this.value(depth + 1));
        }
      }
      case 'key':
        return this.fail('<key> outside a <dict>', tag.at);
      default:
        if (UNSUPPORTED.has(tag.name)) return this.fail(`<${tag.name}> values are not supported`, tag.at);
        return this.fail(`unknown element <${tag.name}>`, tag.at);
    }
  }

  checkElementStart(): void {
    if (this.pos >= this.text.length) this.fail('unexpected end of document');
    if (!this.startsWith('<')) this.fail('unexpected text between elements');
  }
}

/** Parses a whole plist document; throws PlistError. */
export function parsePlist(text: string): PlistValue {
  if (text.length > MAX_LENGTH) throw new PlistError(`document larger than ${MAX_LENGTH} bytes`, 1, 1);
  const p = new Parser(text);
  p.prolog();
  p.checkElementStart();
  const root = p.openTag();
  if (root.name !== 'plist') p.fail(`the root element must be <plist>, not <${root.name}>`, root.at);
  for (const [attr, value] of root.attributes) {
    if (attr !== 'version') p.fail(`unexpected attribute ${attr} on <plist>`, root.at);
    if (value !== '1.0') p.fail(`unsupported plist version ${JSON.stringify(value)}`, root.at);
  }
  if (root.selfClosing) p.fail('<plist> holds no value', root.at);
  p.skipMisc();
  p.checkElementStart();
  const value = p.value(1);
  p.skipMisc();
  p.closeTag('plist');
  p.skipMisc();
  if (p.pos < text.length) p.fail('content after </plist>');
  return value;
}
