// Property-based attacks on the edge (fast-check): request targets and header sets through the
// pure functions that decide what the origin receives, then random hostile request heads through
// a real edge. CI (CI=true) uses a fixed seed; `npm run fuzz:edge` runs many more cases
// (FUZZ_RUNS, FUZZ_SEED override both).
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalPath, pathHasPrefix } from '../../src/access/policy/domain.js';
import { EDGE_OWNED_HEADERS, strippedHeaders } from '../../src/edge/headers.js';
import { upstreamHeaders } from '../../src/edge/proxy.js';
import { originFormTarget } from '../../src/edge/target.js';
import { isCI } from '../helpers/tools.js';
import { type EdgeLab, exchange, startEdgeLab } from './edge-lab.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : isCI ? 20261202 : undefined;
const params = (numRuns: number) => ({ numRuns, ...(SEED !== undefined ? { seed: SEED } : {}) });

/** Pieces attackers build paths from: separators, dots, their encodings, escapes, junk. */
const PATH_PIECES = [
  '/',
  '//',
  'admin',
  'Admin',
  'x',
  '.',
  '..',
  '%2e',
  '%2E',
  '%2e%2e',
  '.%2e',
  '%2f',
  '%2F',
  '%5c',
  '%5C',
  '\\',
  ';',
  ';x',
  '%3b',
  '%61',
  '%64min',
  '%00',
  '%0a',
  '%7f',
  '%',
  '%zz',
  '%c0%ae',
  '%c3%a9',
  '%e9',
  '#',
  '?',
  '?a=/../admin',
  '&',
  '~',
  '-',
  '_',
  '@',
  ':',
  '+',
  '!',
  'é',
  ' ',
  '\t',
];
const pathArb = fc
  .array(fc.constantFrom(...PATH_PIECES), { minLength: 1, maxLength: 10 })
  .map((parts) => `/${parts.join('')}`);

const underAdmin = (path: string) => pathHasPrefix(path, '/admin');

/** How a lenient origin (CGI, Python's unquote) reads a path: every escape decoded. */
function lenientPath(target: string): string {
  const path = target.split('?')[0] as string;
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

describe('property-based: targets', () => {
  test('an accepted target is judged exactly as every origin reads it, and is stable', () => {
    fc.assert(
      fc.property(pathArb, (raw) => {
        const t = originFormTarget(raw, 'node.test');
        if (t === undefined) return;
        assert.equal(originFormTarget(t, 'node.test'), t, 'normalising twice changes nothing');
        const judged = canonicalPath(t);
        const readings = [new URL(t, 'http://origin').pathname, lenientPath(t), t.split('?')[0] as string];
        for (const reading of readings)
          assert.equal(
            underAdmin(reading),
            underAdmin(judged),
            `${raw} → ${t} read as ${reading}, judged ${judged}`,
          );
        const path = t.split('?')[0] as string; // the query is not judged, and forwarded as sent
        assert.ok(!path.startsWith('//') && !path.includes('\\') && !t.includes('#'), t);
      }),
      params(RUNS * 10),
    );
  });

  test('absolute-form targets reduce to a normalised path of this host only', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('http', 'https'),
        fc.constantFrom('node.test', 'other.test', 'node.test:1'),
        pathArb,
        (scheme, host, path) => {
          const t = originFormTarget(`${scheme}://${host}${path}`, 'node.test');
          if (t === undefined) return;
          assert.ok(host.startsWith('node.test'), `accepted another authority: ${host}`);
          assert.equal(originFormTarget(t, 'node.test'), t);
        },
      ),
      params(RUNS * 3),
    );
  });
});

const OWNED_NAMES = [
  ...EDGE_OWNED_HEADERS,
  'gatehouse-access-client-secret',
  'gatehouse-access-client-id',
  'x-device-cn',
];

/** A header name as an attacker spells it: any case, `_` for `-`. */
const spelling = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .chain((upper) =>
      fc
        .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
        .map((under) =>
          [...name].map((c, i) => (c === '-' && under[i] ? '_' : upper[i] ? c.toUpperCase() : c)).join(''),
        ),
    );

describe('property-based: headers', () => {
  const stripped = strippedHeaders({
    styles: ['gatehouse'],
    custom: [{ header: 'X-Device-CN', field: 'subject.CN' }],
  });
  const wsgiKey = (name: string) => `HTTP_${name.toUpperCase().replaceAll('-', '_')}`;

  test('no spelling of the gateway’s headers reaches the origin, and no two names collide for WSGI', () => {
    const headerArb = fc.oneof(
      fc.constantFrom(...OWNED_NAMES).chain(spelling),
      fc.constantFrom('x-user', 'accept', 'cookie', 'x-a-b').chain(spelling),
      fc.stringMatching(/^[a-z][a-z_-]{0,12}$/),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(headerArb, fc.constant('EVIL')), {
          maxLength: 12,
          selector: ([n]) => n.toLowerCase(),
        }),
        (pairs) => {
          // node:http lower-cases names and merges duplicates: the object handlers see.
          const headers: Record<string, string> = { host: 'node.test' };
          for (const [name, value] of pairs) headers[name.toLowerCase()] = value;
          const out = upstreamHeaders({ headers } as unknown as IncomingMessage, stripped, [
            ['x-forwarded-for', '127.0.0.1'],
          ]);
          const keys = new Set<string>();
          for (const name of Object.keys(out)) {
            const normalised = name.replaceAll('_', '-');
            if (OWNED_NAMES.includes(normalised) || normalised.startsWith('gatehouse-'))
              assert.notEqual(out[name], 'EVIL', `${name} forwarded`);
            assert.ok(!keys.has(wsgiKey(name)), `${name} collides with another header for WSGI`);
            keys.add(wsgiKey(name));
          }
        },
      ),
      params(RUNS * 10),
    );
  });
});

/** Header lines attackers send, valid or not, all carrying EVIL where a value is forged. */
const HEAD_LINES = [
  'Gatehouse-Client-Cert-Status: EVIL',
  'gatehouse_client_cert_subject: EVIL',
  'X_Forwarded_For: EVIL',
  'X-Forwarded-For: EVIL',
  'Gatehouse-Access-Client-Secret: EVIL',
  'Cookie: Gatehouse_Authorization=EVIL',
  'Content-Length: 0',
  'Content-Length: 3',
  'Content-Length: -1',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: identity',
  'Connection: Upgrade',
  'Upgrade: websocket',
  'Connection: close',
  'Connection: keep-alive, Gatehouse-Client-Cert-Status',
  'Host: off.test',
  ' folded: EVIL',
  'X-A:\rEVIL',
  'Bad Name: EVIL',
  'X-Ok: fine',
  'Expect: 100-continue',
];

describe('property-based: random hostile heads through a real edge', () => {
  let lab: EdgeLab;
  before(async () => {
    lab = await startEdgeLab();
  });
  after(async () => {
    await lab?.close();
  });

  test('no forged value, no /admin, no 5xx, no worker death', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'PUT'),
        pathArb,
        fc.array(fc.constantFrom(...HEAD_LINES), { maxLength: 6 }),
        fc.constantFrom(
          '',
          'abc',
          '0\r\n\r\n',
          '3\r\nabc\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: raw.test\r\n\r\n',
        ),
        async (method, path, lines, body) => {
          lab.hits.length = 0;
          const head = `${method} ${path} HTTP/1.1\r\nHost: raw.test\r\n${lines.map((l) => `${l}\r\n`).join('')}\r\n`;
          const r = await exchange(lab, 'raw.test', head + body, { timeoutMs: 1_500 });
          await new Promise((res) => setTimeout(res, 30));
          for (const hit of lab.hits) {
            assert.ok(!JSON.stringify(hit).includes('EVIL'), `origin saw ${JSON.stringify(hit)}`);
            assert.ok(!underAdmin(canonicalPath(hit.target)), `origin served ${hit.target}`);
            assert.ok(!underAdmin(new URL(hit.target, 'http://o').pathname), `origin served ${hit.target}`);
          }
          assert.doesNotMatch(r.text, /HTTP\/1\.1 5\d\d /, r.text.slice(0, 300));
        },
      ),
      params(Math.max(10, Math.round(RUNS / 5))),
    );
    assert.equal(lab.workerDeaths(), 0, lab.server.output());
  });
});
