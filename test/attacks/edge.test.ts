// The standing attack suite for the edge: hostile requests, as raw bytes over real TLS, through a
// real `gatehouse serve` to three kinds of origin (node:http, a raw socket recording exact bytes,
// Python's wsgiref). Each case asserts what the client gets back and what the origins may and may
// not see; every case also checks the invariants below, and the suite ends by checking that no
// edge worker died. docs/security.md lists what is covered and the semantics asserted.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { canonicalPath, pathHasPrefix } from '../../src/access/policy/domain.js';
import {
  connectEdge,
  type EdgeLab,
  type Exchange,
  exchange,
  type OriginHit,
  startEdgeLab,
  wsFrame,
  wsFrameSize,
  wsReadFrame,
} from './edge-lab.js';

/** Every value an attacker forges contains this: no origin may ever see it. */
const EVIL = 'EVIL';

/** The gateway's own headers, in spellings a WSGI/CGI/PHP origin reads as the real ones. */
const SPOOFED_HEADERS = [
  'Gatehouse-Client-Cert-Status: EVIL',
  'gatehouse_client_cert_subject: CN=EVIL',
  'GATEHOUSE_CLIENT_CERT_SHA256: EVIL',
  'Gatehouse-Client_Cert-Serial: EVIL',
  'Gatehouse-Client-Cert-Subject: CN=EVIL',
  'Gatehouse-Client-Cert-Subject: CN=EVIL2',
  'X_Forwarded_For: 10.0.0.EVIL',
  'X-Forwarded-For: 10.0.0.EVIL',
  'x-forwarded-for: 10.0.0.EVIL',
  'X-Forwarded-Host: EVIL',
  'X_Forwarded_Proto: EVIL',
  'X-Device-CN: EVIL',
  'X_Device_Cn: EVIL',
  'Gatehouse-Jwt-Assertion: EVIL',
  'Gatehouse_Jwt_Assertion: EVIL',
  'Gatehouse-Access-Client-Id: EVIL',
  'Gatehouse-Access-Client-Secret: EVIL',
  'gatehouse_access_client_secret: EVIL',
  'Forwarded: for=EVIL;proto=http',
  'X-Real-IP: EVIL',
  'X-Forwarded-Client-Cert: Hash=EVIL',
  'Client-Cert: :EVIL:',
  'Client_Cert_Chain: :EVIL:',
  'Cookie: Gatehouse_Authorization=EVIL; keep=1',
];

/** A smuggled request: reaching an origin as a request of its own would show EVIL or /admin. */
const SMUGGLED = 'GET /admin HTTP/1.1\r\nHost: HOST\r\nGatehouse-Client-Cert-Status: EVIL\r\n\r\n';

interface Case {
  name: string;
  /** SNI (and, by default, Host) of the connection. */
  host: string;
  /** What the client sends; `HOST` is replaced by `host`. */
  send: string | (string | Buffer)[];
  cert?: boolean;
  gapMs?: number;
  abort?: boolean;
  until?: (text: string) => boolean;
  timeoutMs?: number;
  check?: (r: Exchange, hits: OriginHit[]) => void;
}

const closeHead = (host: string, path = '/', extra: string[] = []) =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`;

const statusIs =
  (...expected: number[]) =>
  (r: Exchange) =>
    assert.deepEqual(r.statuses, expected, r.text.slice(0, 400));

const KINDS = ['node', 'raw', 'wsgi'] as const;

const smuggling: Case[] = KINDS.flatMap((kind) => {
  const host = `${kind}.test`;
  const smuggled = SMUGGLED.replace('HOST', host);
  const post = (headers: string, body: string) =>
    `POST /s HTTP/1.1\r\nHost: ${host}\r\n${headers}\r\n${body}`;
  const refused = (name: string, send: string): Case => ({
    name: `${kind}: ${name} is refused with 400`,
    host,
    send,
    check: (r, hits) => {
      statusIs(400)(r);
      assert.ok(r.closed, 'the connection is closed after a malformed request');
      assert.deepEqual(hits, [], 'nothing reaches the origin');
    },
  });
  return [
    refused('CL + TE', post('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${smuggled}`)),
    refused('TE + CL', post('Transfer-Encoding: chunked\r\nContent-Length: 4\r\n', `0\r\n\r\n${smuggled}`)),
    refused(
      'duplicate differing Content-Length',
      post('Content-Length: 0\r\nContent-Length: 44\r\n', smuggled),
    ),
    refused('Content-Length list', post('Content-Length: 0, 44\r\n', smuggled)),
    refused('Content-Length with a sign', post('Content-Length: +0\r\n', smuggled)),
    refused('TE xchunked', post('Transfer-Encoding: xchunked\r\n', `0\r\n\r\n${smuggled}`)),
    refused('TE chunked, identity', post('Transfer-Encoding: chunked, identity\r\n', `0\r\n\r\n${smuggled}`)),
    refused(
      'TE with a space before the colon',
      post('Transfer-Encoding : chunked\r\n', `0\r\n\r\n${smuggled}`),
    ),
    refused('TE vertical tab', post('Transfer-Encoding:\x0bchunked\r\n', `0\r\n\r\n${smuggled}`)),
    refused('obs-fold', post('X-A: a\r\n Gatehouse-Client-Cert-Status: EVIL\r\nContent-Length: 0\r\n', '')),
    refused(
      'a bare CR inside a header',
      post('X-A: a\rGatehouse-Client-Cert-Status: EVIL\r\nContent-Length: 0\r\n', ''),
    ),
    refused('a NUL in a header value', post('X-A: a\x00EVIL\r\nContent-Length: 0\r\n', '')),
    refused('a bad chunk size', post('Transfer-Encoding: chunked\r\n', `zz\r\nEVIL\r\n0\r\n\r\n`)),
    refused(
      'a chunk size overflow',
      post('Transfer-Encoding: chunked\r\n', `fffffffffffffffff1\r\nEVIL\r\n0\r\n\r\n`),
    ),
    refused(
      'a bare LF in the chunk extension',
      post('Transfer-Encoding: chunked\r\n', `1;a\nb\r\nE\r\n0\r\n\r\n`),
    ),
    refused('two Host headers', `GET / HTTP/1.1\r\nHost: ${host}\r\nHost: off.test\r\n\r\n`),
    refused('a space in the target', `GET /a b HTTP/1.1\r\nHost: ${host}\r\n\r\n`),
    {
      name: `${kind}: bare LF line ends never reach the origin unsanitised`,
      host,
      send: `GET /lf HTTP/1.1\nHost: ${host}\nGatehouse-Client-Cert-Status: EVIL\nConnection: close\n\n`,
      check: (r, hits) => {
        // Either refused, or parsed as one request whose forged header is stripped.
        if (r.statuses[0] !== 400)
          assert.deepEqual(
            hits.map((h) => h.target),
            ['/lf'],
          );
      },
    },
  ];
});

const wsHandshake = (host: string, path: string, extra: string[] = []) =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra.map((h) => `${h}\r\n`).join('')}\r\n`;

const upgrades: Case[] = [
  ...KINDS.map((kind): Case => ({
    // The raw and WSGI origins answer 200; node's answers a non-WebSocket upgrade with 400.
    name: `${kind}: an upgrade the origin answers without 101 opens no tunnel; the next request is parsed and judged`,
    host: `${kind}.test`,
    send: [
      `GET /ws HTTP/1.1\r\nHost: ${kind}.test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n`,
      `GET /admin HTTP/1.1\r\nHost: ${kind}.test\r\nGatehouse-Client-Cert-Status: EVIL\r\n\r\n` +
        `GET /after HTTP/1.1\r\nHost: ${kind}.test\r\nX_Forwarded_For: EVIL\r\nConnection: close\r\n\r\n`,
    ],
    gapMs: 300,
    check: (r, hits) => {
      assert.equal(r.statuses.length, 3, r.text);
      assert.notEqual(r.statuses[0], 101);
      assert.deepEqual(r.statuses.slice(1), [403, 200], 'the Access application judged /admin');
      assert.deepEqual(
        hits.map((h) => h.target),
        ['/ws', '/after'],
      );
    },
  })),
  {
    name: 'node: a WebSocket through the edge (101 from the origin) echoes; forged headers are stripped',
    host: 'node.test',
    send: [
      wsHandshake('node.test', '/ws', ['X_Forwarded_For: EVIL', 'Gatehouse-Client-Cert-Subject: EVIL']),
      wsFrame('hello', true),
    ],
    gapMs: 300,
    until: (t) => t.includes('echo:hello'),
    check: (r, hits) => {
      statusIs(101)(r);
      const body = Buffer.from(r.text.slice(r.text.indexOf('\r\n\r\n') + 4), 'latin1');
      assert.equal(wsReadFrame(body), 'echo:hello');
      assert.equal(hits.length, 1);
      assert.equal(hits[0]?.headers['x-forwarded-for'], '127.0.0.1');
      assert.equal(hits[0]?.headers['gatehouse-client-cert-status'], 'none');
    },
  },
  {
    name: 'enforce: an upgrade without a certificate gets the 403 page and reaches nothing',
    host: 'enforce.test',
    send: wsHandshake('enforce.test', '/ws'),
    check: (r, hits) => {
      statusIs(403)(r);
      assert.deepEqual(hits, []);
    },
  },
  {
    name: 'enforce: an upgrade with a valid certificate is tunnelled after the 101',
    host: 'enforce.test',
    cert: true,
    send: [wsHandshake('enforce.test', '/ws'), wsFrame('mtls', true)],
    gapMs: 300,
    until: (t) => t.includes('echo:mtls'),
    check: (r, hits) => {
      statusIs(101)(r);
      assert.equal(hits.length, 1);
      assert.equal(hits[0]?.headers['gatehouse-client-cert-status'], 'valid');
    },
  },
  {
    name: 'node: an upgrade to a path an Access application denies is answered 403, never tunnelled',
    host: 'node.test',
    send: [wsHandshake('node.test', '/admin/ws'), `${SMUGGLED.replace('HOST', 'node.test')}`],
    gapMs: 200,
    check: (r, hits) => {
      assert.equal(r.statuses[0], 403);
      assert.deepEqual(hits, []);
    },
  },
  {
    name: 'node: an upgrade with a body is refused (a handshake has none)',
    host: 'node.test',
    send: `POST /ws HTTP/1.1\r\nHost: node.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED.replace('HOST', 'node.test')}`,
    check: (r) => assert.notEqual(r.statuses[0], 101),
  },
];

const spoofing: Case[] = KINDS.flatMap((kind) => [
  {
    name: `${kind}: the gateway's headers in every spelling never reach the origin (no certificate)`,
    host: `${kind}.test`,
    send: closeHead(`${kind}.test`, '/spoof', SPOOFED_HEADERS),
    check: (r, hits) => {
      statusIs(200)(r);
      assert.equal(hits.length, 1);
      const h = hits[0]?.headers ?? {};
      assert.equal(h['x-forwarded-for'], '127.0.0.1');
      assert.equal(h['x-forwarded-host'], `${kind}.test`);
      assert.equal(h['gatehouse-client-cert-status'], 'none');
      assert.equal(h.cookie, 'keep=1', 'the session cookie is the gateway’s; other cookies pass');
      for (const name of Object.keys(h))
        assert.ok(
          !/^(gatehouse-access-|gatehouse-jwt|x-device-cn|forwarded$|x-real-ip|client-cert)/.test(name),
          name,
        );
    },
  },
  {
    name: `${kind}: with a valid certificate the origin sees the real subject, not the forged one`,
    host: `${kind}.test`,
    cert: true,
    send: closeHead(`${kind}.test`, '/spoof', SPOOFED_HEADERS),
    check: (r, hits) => {
      statusIs(200)(r);
      const h = hits[0]?.headers ?? {};
      assert.equal(h['gatehouse-client-cert-status'], 'valid');
      assert.match(h['gatehouse-client-cert-subject'] ?? '', /CN=laptop-1/);
      assert.equal(h['x-device-cn'], 'laptop-1');
    },
  },
]);

/** Targets that must never let an origin serve /admin without the /admin application judging. */
const HOSTILE_PATHS = [
  '//x/admin',
  '//admin',
  '///admin',
  '/./admin',
  '/x/../admin',
  '/x/..',
  '/x/%2e%2e/admin',
  '/x/%2E./admin',
  '/%2e/admin',
  '/x%2F..%2Fadmin',
  '/x/..%2fadmin',
  '/%2fadmin',
  '/x\\..\\admin',
  '/%5cadmin',
  '/%61dmin',
  '/%61dmin/x',
  '/admin%00',
  '/x/%00/../admin',
  '/x/.;/admin',
  '/x/..;/admin',
  '/admin;x',
  '/admin%3bx',
  '/admin?q',
  '/admin/',
  '/admin#x',
  '/x#/../admin',
  '/%c0%ae%c0%ae/admin',
  '/\u00e9/../admin',
  'http://HOST//x/admin',
  'http://HOST/x/../admin',
  'https://HOST/%2e%2e/admin',
  '*',
];

const paths: Case[] = KINDS.flatMap((kind) =>
  HOSTILE_PATHS.map((path): Case => ({
    name: `${kind}: ${JSON.stringify(path)} is judged on exactly what the origin receives`,
    host: `${kind}.test`,
    send: closeHead(`${kind}.test`, path.replace('HOST', `${kind}.test`)),
    check: (r, hits) => {
      assert.equal(r.statuses.length, 1, r.text);
      const status = r.statuses[0] as number;
      assert.ok([400, 403, 200].includes(status), `status ${status}`);
      if (status !== 200) assert.deepEqual(hits, []);
      // What an origin may get: a path that neither WHATWG URL parsing nor the policy's
      // canonical form puts under /admin, and that is already in the form it was judged in.
      for (const hit of hits) {
        const target = hit.target;
        assert.ok(target.startsWith('/') && !target.startsWith('//'), target);
        assert.ok(!pathHasPrefix(new URL(target, 'http://origin').pathname, '/admin'), target);
        assert.ok(!pathHasPrefix(canonicalPath(target), '/admin'), target);
        // Path parameters aside (the policy ignores them), the origin gets the judged form.
        const path = (target.split('?')[0] as string).replace(/;[^/]*/g, '');
        assert.equal(canonicalPath(target), path, `forwarded ${target} is not canonical`);
      }
    },
  })),
);

const ordinaryPaths: Case[] = KINDS.map((kind) => ({
  name: `${kind}: ordinary paths are forwarded unchanged`,
  host: `${kind}.test`,
  send: [
    `GET /a/b%20c/d~e-f_g.h?x=%2F..%2F&y=//z HTTP/1.1\r\nHost: ${kind}.test\r\n\r\n`,
    `GET /administrator HTTP/1.1\r\nHost: ${kind}.test\r\nConnection: close\r\n\r\n`,
  ],
  check: (r, hits) => {
    statusIs(200, 200)(r);
    assert.deepEqual(
      hits.map((h) => h.target),
      ['/a/b%20c/d~e-f_g.h?x=%2F..%2F&y=//z', '/administrator'],
    );
  },
}));

const pipelining: Case[] = [
  {
    name: 'node: a pipelined request for another hostname on the connection gets 421 and reaches nothing',
    host: 'node.test',
    send:
      'GET /1 HTTP/1.1\r\nHost: node.test\r\n\r\n' +
      'GET /2 HTTP/1.1\r\nHost: off.test\r\n\r\n' +
      'GET /3 HTTP/1.1\r\nHost: raw.test\r\n\r\n' +
      'GET /4 HTTP/1.1\r\nHost: node.test\r\nConnection: close\r\n\r\n',
    check: (r, hits) => {
      statusIs(200, 421, 421, 200)(r);
      assert.deepEqual(
        hits.map((h) => `${h.origin}${h.target}`),
        ['node/1', 'node/4'],
      );
    },
  },
  {
    name: 'enforce: pipelining onto a refused connection reaches nothing',
    host: 'enforce.test',
    send: 'GET /1 HTTP/1.1\r\nHost: enforce.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: off.test\r\n\r\n',
    check: (r, hits) => {
      statusIs(403)(r);
      assert.deepEqual(hits, []);
    },
  },
  {
    name: 'off: a request naming a report hostname on an off connection gets 421',
    host: 'off.test',
    send: closeHead('node.test', '/x'),
    check: (r, hits) => {
      statusIs(421)(r);
      assert.deepEqual(hits, []);
    },
  },
];

const LARGE = 5 * 1024 * 1024;
const bodies: Case[] = (['node', 'raw'] as const).flatMap((kind): Case[] => {
  const host = `${kind}.test`;
  return [
    {
      name: `${kind}: a Content-Length body arrives whole, and the worker lives on`,
      host,
      send: `POST /b HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
      check: (r, hits) => {
        statusIs(200)(r);
        assert.equal(hits[0]?.bodyLength, 5);
      },
    },
    {
      name: `${kind}: a chunked body arrives whole`,
      host,
      send: `POST /b HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n`,
      check: (r, hits) => {
        statusIs(200)(r);
        assert.equal(hits[0]?.method, 'POST');
        if (kind === 'node') assert.equal(hits[0]?.bodyLength, 7);
        else assert.match(hits[0]?.raw ?? '', /abc[\s\S]*defg/);
      },
    },
    {
      name: `${kind}: an empty body (Content-Length: 0) and keep-alive requests after it`,
      host,
      send:
        `POST /e HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\n\r\n` +
        `POST /e2 HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 2\r\n\r\nok` +
        `GET /e3 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      check: (r, hits) => {
        statusIs(200, 200, 200)(r);
        assert.deepEqual(
          hits.map((h) => [h.target, h.bodyLength]),
          [
            ['/e', 0],
            ['/e2', 2],
            ['/e3', 0],
          ],
        );
      },
    },
    {
      name: `${kind}: a large (5 MiB) body arrives whole`,
      host,
      send: [
        `POST /big HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${LARGE}\r\nConnection: close\r\n\r\n`,
        Buffer.alloc(LARGE, 0x61),
      ],
      timeoutMs: 20_000,
      check: (r, hits) => {
        statusIs(200)(r);
        assert.equal(hits[0]?.bodyLength, LARGE);
      },
    },
    {
      name: `${kind}: a client that disconnects mid-body (Content-Length)`,
      host,
      send: [`POST /cut HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 100000\r\n\r\n`, 'x'.repeat(1000)],
      gapMs: 100,
      abort: true,
      check: (r) => assert.deepEqual(r.statuses, []),
    },
    {
      name: `${kind}: a client that disconnects mid-body (chunked)`,
      host,
      send: [
        `POST /cut HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n`,
        '10\r\n0123456789abcdef\r\n',
        '100\r\nabc',
      ],
      gapMs: 100,
      abort: true,
      check: (r) => assert.deepEqual(r.statuses, []),
    },
    {
      name: `${kind}: a slow client (head and body in pieces) is served`,
      host,
      send: [
        `POST /slow HTTP/1.1\r\nHo`,
        `st: ${host}\r\nContent-Len`,
        'gth: 6\r\nConnection: close\r\n\r\n',
        'abc',
        'def',
      ],
      gapMs: 150,
      check: (r, hits) => {
        statusIs(200)(r);
        assert.equal(hits[0]?.bodyLength, 6);
      },
    },
  ];
});

const originFailures: Case[] = [
  {
    name: 'node: an origin that dies mid-response cuts that response only',
    host: 'node.test',
    send: closeHead('node.test', '/origin-abort'),
    check: (r) => {
      assert.equal(r.statuses[0], 200);
      assert.ok(r.closed);
    },
  },
  {
    name: 'node: a client that leaves before the origin answers',
    host: 'node.test',
    send: [`POST /origin-abort HTTP/1.1\r\nHost: node.test\r\nContent-Length: 3\r\n\r\nabc`],
    abort: true,
    check: (r) => assert.deepEqual(r.statuses, []),
  },
];

const slow: Case[] = [
  {
    name: 'node: a slowloris head sent a byte at a time is still answered (within the head deadline)',
    host: 'node.test',
    send: [...closeHead('node.test', '/trickle')]
      .slice(0, 20)
      .concat(closeHead('node.test', '/trickle').slice(20)),
    gapMs: 20,
    check: (r, hits) => {
      statusIs(200)(r);
      assert.deepEqual(
        hits.map((h) => h.target),
        ['/trickle'],
      );
    },
  },
];

const CASES: { group: string; cases: Case[] }[] = [
  { group: 'smuggling', cases: smuggling },
  { group: 'upgrade', cases: upgrades },
  { group: 'header spoofing', cases: spoofing },
  { group: 'path confusion', cases: [...paths, ...ordinaryPaths] },
  { group: 'pipelining across hosts', cases: pipelining },
  { group: 'bodies', cases: bodies },
  { group: 'origin failures', cases: originFailures },
  { group: 'slow clients', cases: slow },
];

describe('attacks on the edge', () => {
  let lab: EdgeLab;
  before(async () => {
    lab = await startEdgeLab();
  });
  after(async () => {
    await lab?.close();
  });

  for (const { group, cases } of CASES) {
    describe(group, () => {
      for (const c of cases) {
        test(c.name, async () => {
          lab.hits.length = 0;
          const send = Array.isArray(c.send) ? c.send : [c.send];
          const r = await exchange(
            lab,
            c.host,
            send.map((p) => (typeof p === 'string' ? p.replaceAll('HOST', c.host) : p)),
            {
              ...(c.cert ? { cert: true } : {}),
              ...(c.gapMs ? { gapMs: c.gapMs } : {}),
              ...(c.abort ? { abort: true } : {}),
              ...(c.until ? { until: c.until } : {}),
              ...(c.timeoutMs ? { timeoutMs: c.timeoutMs } : {}),
            },
          );
          // The WSGI origin reports over a pipe; aborted requests may still be on their way.
          await new Promise((res) => setTimeout(res, c.abort ? 300 : 60));
          const hits = [...lab.hits];
          for (const hit of hits) {
            assert.ok(
              !JSON.stringify(hit).includes(EVIL),
              `${hit.origin} saw a forged value: ${JSON.stringify(hit)}`,
            );
            assert.ok(
              !pathHasPrefix(canonicalPath(hit.target), '/admin'),
              `${hit.origin} served ${hit.target}`,
            );
          }
          assert.ok(!/HTTP\/1\.1 5\d\d /.test(r.text), `the edge answered 5xx:\n${r.text.slice(0, 400)}`);
          c.check?.(r, hits);
        });
      }
    });
  }

  test('a WebSocket echoes many frames both ways through the edge', async () => {
    const socket = await connectEdge(lab, 'node.test');
    let buf = Buffer.alloc(0);
    const next = () =>
      new Promise<string>((resolve) => {
        const onData = () => {
          const text = wsReadFrame(buf);
          if (text === undefined) return;
          buf = buf.subarray(wsFrameSize(buf));
          socket.off('data', onData);
          resolve(text);
        };
        socket.on('data', onData);
        onData();
      });
    socket.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
    socket.write(wsHandshake('node.test', '/ws'));
    await new Promise<void>((resolve) => {
      const wait = () => {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        assert.match(buf.toString('latin1', 0, end), /^HTTP\/1\.1 101 /);
        buf = buf.subarray(end + 4);
        socket.off('data', wait);
        resolve();
      };
      socket.on('data', wait);
    });
    for (let i = 0; i < 20; i++) {
      socket.write(wsFrame(`m${i}`, true));
      assert.equal(await next(), `echo:m${i}`);
    }
    socket.destroy();
  });

  test('no edge worker died, and nothing was logged as a crash', () => {
    const output = lab.server.output();
    assert.equal(lab.workerDeaths(), 0, output);
    assert.doesNotMatch(output, /TypeError|uncaught|unhandled/i, output);
  });
});
