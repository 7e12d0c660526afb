// Admission, unit by unit: which hostname a connection and a request are for, and what ends a
// request at the edge (400, 421, the 403 block page) before anything reaches Access or an origin.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { admit, admitConnection, admitOn } from '../../src/edge/admission.js';
import { DEFAULT_FORWARD } from '../../src/edge/client-auth.js';
import { strippedHeaders } from '../../src/edge/headers.js';
import type { EdgeMetrics } from '../../src/edge/metrics.js';
import type { EdgeSnapshot, HostRuntime } from '../../src/edge/snapshot.js';

type Mode = HostRuntime['mode'];

const hostRuntime = (hostname: string, mode: Mode, block: HostRuntime['block'] = {}) =>
  ({
    id: `id-${hostname}`,
    hostname,
    origin: new URL('http://127.0.0.1:9'),
    mode,
    forward: DEFAULT_FORWARD,
    block,
    stripped: strippedHeaders(DEFAULT_FORWARD),
  }) as unknown as HostRuntime;

const snapshotOf = (...hosts: HostRuntime[]) =>
  ({ version: 1, hosts: new Map(hosts.map((h) => [h.hostname, h])) }) as unknown as EdgeSnapshot;

/** A TLS socket after its handshake: SNI, and a client certificate or none. */
function socketOf(servername: string | false, peer?: { raw: Buffer; fingerprint256: string }) {
  return {
    servername,
    remoteAddress: '192.0.2.7',
    authorized: false,
    getPeerX509Certificate: () => peer,
    getPeerCertificate: () => ({}),
  } as unknown as TLSSocket;
}

/** A certificate too large to be parsed: refused as `certificate_too_large` without parsing. */
const hugeCertificate = { raw: Buffer.alloc(17 * 1024), fingerprint256: 'AA:BB' };

const requestOf = (socket: TLSSocket, url: string, rawHeaders: string[]) => {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    headers[name] ??= rawHeaders[i + 1] as string; // node:http keeps the first Host
  }
  return { socket, url, rawHeaders, headers } as unknown as IncomingMessage;
};

const forwarded = (hostname: string) => [
  ['x-forwarded-for', '192.0.2.7'],
  ['x-forwarded-proto', 'https'],
  ['x-forwarded-host', hostname],
];

test('admitOn: Host must be present, well formed, equal to SNI and served here', () => {
  const snapshot = snapshotOf(hostRuntime('app.test', 'off'));
  const socket = socketOf('app.test');
  const refusal = (host: string | undefined, sni: string | false = 'app.test') => {
    const a = admitOn(sni === 'app.test' ? socket : socketOf(sni), host, undefined, snapshot);
    assert.ok(a.response, `${host} on SNI ${sni} is answered at the edge`);
    assert.equal(a.headers, undefined);
    return [a.response.status, a.response.body.match(/\((\w+)\)\n$/)?.[1]];
  };
  for (const host of [undefined, '', ' ', 'user@app.test', 'app.test:123456', '::1', '[::1', 'app.test/x'])
    assert.deepEqual(refusal(host), [400, 'missing_host'], String(host));
  assert.deepEqual(refusal('other.test'), [421, 'misdirected_request']);
  assert.deepEqual(refusal('app.test.'), [421, 'misdirected_request'], 'a trailing dot is another name');
  assert.deepEqual(refusal('[::1]:443'), [421, 'misdirected_request']);
  assert.deepEqual(refusal('app.test', false), [421, 'misdirected_request'], 'no SNI');
  assert.deepEqual(refusal('other.test', 'other.test'), [421, 'unknown_hostname']);
  // Upper case, a port and spaces around are not a different hostname.
  for (const host of ['app.test', 'APP.Test', 'app.test:8443', ' app.test ']) {
    const a = admitOn(socket, host, undefined, snapshot);
    assert.equal(a.response, undefined, host);
    assert.equal(a.host?.hostname, 'app.test');
  }
  // SNI is compared lower-cased too.
  assert.equal(admitOn(socketOf('APP.TEST'), 'app.test', undefined, snapshot).response, undefined);
});

test('admitOn: refusals answer in JSON when asked to', () => {
  const a = admitOn(
    socketOf('app.test'),
    'other.test',
    'application/json',
    snapshotOf(hostRuntime('app.test', 'off')),
  );
  assert.equal(a.response?.contentType, 'application/json');
  assert.deepEqual(JSON.parse(a.response?.body ?? ''), {
    error: 'misdirected_request',
    message: 'Misdirected Request: Host does not match TLS SNI',
  });
});

test('admitOn: off forwards without certificate headers, report says the status, enforce blocks', () => {
  const off = admitOn(
    socketOf('off.test', hugeCertificate),
    'off.test',
    undefined,
    snapshotOf(hostRuntime('off.test', 'off')),
  );
  assert.deepEqual(off.verdict, { status: 'none' });
  assert.deepEqual(off.headers, forwarded('off.test'));

  const report = snapshotOf(hostRuntime('report.test', 'report'));
  const none = admitOn(socketOf('report.test'), 'report.test', undefined, report);
  assert.equal(none.verdict?.status, 'none');
  assert.deepEqual(none.headers, [...forwarded('report.test'), ['gatehouse-client-cert-status', 'none']]);
  const invalid = admitOn(socketOf('report.test', hugeCertificate), 'report.test', undefined, report);
  assert.deepEqual(invalid.headers, [
    ...forwarded('report.test'),
    ['gatehouse-client-cert-status', 'invalid'],
    ['gatehouse-client-cert-reason', 'certificate_too_large'],
  ]);

  const enforce = snapshotOf(hostRuntime('enforce.test', 'enforce', { json: { denied: true } }));
  const noCert = admitOn(socketOf('enforce.test'), 'enforce.test', 'text/html', enforce);
  assert.equal(noCert.response?.status, 403);
  assert.match(noCert.response?.body ?? '', /Reason: <code>no_certificate<\/code>/);
  assert.equal(noCert.host?.hostname, 'enforce.test', 'the access log still names the hostname');
  const bad = admitOn(socketOf('enforce.test', hugeCertificate), 'enforce.test', 'application/json', enforce);
  assert.equal(bad.response?.status, 403);
  assert.equal(bad.response?.body, '{"denied":true}', "the hostname's own JSON block response");
  assert.equal(bad.verdict?.reason, 'certificate_too_large');
  // Block pages are rendered once per hostname, reason and content type.
  assert.equal(
    admitOn(socketOf('enforce.test'), 'enforce.test', 'text/html', enforce).response,
    noCert.response,
  );
});

test('admitOn: the verdict is computed once per connection, again after a new snapshot', () => {
  const socket = socketOf('report.test');
  const first = snapshotOf(hostRuntime('report.test', 'report'));
  const a = admitOn(socket, 'report.test', undefined, first);
  assert.equal(admitOn(socket, 'report.test', undefined, first).headers, a.headers);
  const second = snapshotOf(hostRuntime('report.test', 'report'));
  const b = admitOn(socket, 'report.test', undefined, { ...second, version: 2 } as EdgeSnapshot);
  assert.notEqual(b.headers, a.headers);
  assert.deepEqual(b.headers, a.headers);
});

test('admitConnection: counts the handshake and refuses what no request on it could pass', () => {
  const handshakes: [string, boolean][] = [];
  const metrics = { handshake: (name: string, presented: boolean) => handshakes.push([name, presented]) };
  const snapshot = snapshotOf(
    hostRuntime('off.test', 'off'),
    hostRuntime('report.test', 'report'),
    hostRuntime('enforce.test', 'enforce'),
  );
  const admitted = (sni: string | false, peer?: typeof hugeCertificate) =>
    admitConnection(socketOf(sni, peer), snapshot, metrics as unknown as EdgeMetrics);
  assert.equal(admitted('off.test', hugeCertificate), true);
  assert.equal(admitted('REPORT.test'), true);
  assert.equal(admitted('report.test', hugeCertificate), true);
  assert.equal(admitted('enforce.test'), false);
  assert.equal(admitted('enforce.test', hugeCertificate), false);
  assert.equal(admitted('other.test'), false);
  assert.equal(admitted(false, hugeCertificate), false);
  assert.deepEqual(handshakes, [
    ['off.test', true],
    ['report.test', false],
    ['report.test', true],
    ['enforce.test', false],
    ['enforce.test', true],
    ['unknown', false],
    ['unknown', true],
  ]);
});

test('admit: exactly one Host, a target the edge can normalise (then forwarded as normalised)', () => {
  const snapshot = snapshotOf(hostRuntime('app.test', 'off'));
  const socket = socketOf('app.test');
  const codeOf = (url: string, rawHeaders: string[]) => {
    const a = admit(requestOf(socket, url, rawHeaders), snapshot);
    return a.response ? `${a.response.status} ${a.response.body.match(/\((\w+)\)\n$/)?.[1]}` : 'admitted';
  };
  assert.equal(codeOf('/', ['Host', 'app.test']), 'admitted');
  for (const second of ['host', 'HOST', 'hOsT'])
    assert.equal(codeOf('/', ['Host', 'app.test', second, 'app.test']), '400 missing_host', second);
  assert.equal(codeOf('/', ['Host', 'app.test', 'Host', 'evil.test']), '400 missing_host');
  assert.equal(codeOf('/', ['X-Host', 'evil.test', 'Host', 'app.test', 'Hosts', 'x']), 'admitted');
  assert.equal(codeOf('/', []), '400 missing_host');
  assert.equal(codeOf('/', ['Host', '']), '400 missing_host');
  for (const url of [
    '//x/admin',
    '/a/../b',
    '/a%2fb',
    '/a;b',
    '*',
    'https://evil.test/',
    'https://u@app.test/',
  ])
    assert.equal(codeOf(url, ['Host', 'app.test']), '400 invalid_target', url);

  const req = requestOf(socket, 'https://APP.test/%61dmin?x=1', ['Host', 'app.test']);
  assert.equal(admit(req, snapshot).response, undefined);
  assert.equal(req.url, '/admin?x=1', 'what is forwarded, and what access applications match');
  const refused = requestOf(socket, '/a/./b', ['Host', 'app.test']);
  admit(refused, snapshot);
  assert.equal(refused.url, '/a/./b', 'a refused target is left as sent (for the access log)');
});
