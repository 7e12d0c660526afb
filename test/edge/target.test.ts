// The edge's request-target rule: the path judged is the path forwarded (docs/edge.md); the Host
// header as the edge reads it (hostOf) and absolute-form targets (originFormTarget).
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { strippedHeaders, stripEdgeCookies } from '../../src/edge/headers.js';
import { upstreamHeaders } from '../../src/edge/proxy.js';
import { hostOf, normaliseTarget, originFormTarget } from '../../src/edge/target.js';

test('unreserved escapes are decoded, other escapes upper-cased, the query kept as sent', () => {
  for (const [target, expected] of [
    ['/', '/'],
    ['/a/b/', '/a/b/'],
    ['/%61dmin', '/admin'],
    ['/%7e%2D%5f%2e1', '/~-_.1'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['/a%20b?x=%2F..%2F&y=//z;\\', '/a%20b?x=%2F..%2F&y=//z;\\'],
  ])
    assert.equal(normaliseTarget(target as string), expected, target);
});

test('targets origins read differently are refused', () => {
  for (const target of [
    '//x/admin',
    '/a//b',
    '/./a',
    '/a/.',
    '/a/..',
    '/a/%2e%2e/b',
    '/a/.%2E/b',
    '/a%2Fb',
    '/a%2fb',
    '/a%5Cb',
    '/a\\b',
    '/a;b',
    '/a%3bb',
    '/a%00',
    '/a%0A',
    '/a%7f',
    '/a%zz',
    '/a%',
    '/%c0%ae%c0%ae/admin',
    '/a#b',
    '/\u00e9',
    'a',
    '*',
  ])
    assert.equal(normaliseTarget(target), undefined, target);
});

test('edge-owned headers go in any spelling; `_` names colliding with another header go', () => {
  const headers = {
    host: 'h',
    'x-user': 'real',
    x_user: 'forged',
    'x_a-b': 'one',
    'x-a_b': 'two',
    gatehouse_client_cert_subject: 'forged',
    'gatehouse-access-client-secret': 'secret',
    x_forwarded_for: 'forged',
    forwarded: 'for=forged',
    cookie: 'a=1; Gatehouse_Authorization=t; gatehouse_login=s; b=2',
    accept_language: 'kept',
  };
  const out = upstreamHeaders(
    { headers } as unknown as IncomingMessage,
    strippedHeaders({ styles: ['gatehouse'], custom: [] }),
    [['x-forwarded-for', '1.2.3.4']],
  );
  assert.deepEqual(out, {
    host: 'h',
    'x-user': 'real',
    'x_a-b': 'one',
    cookie: 'a=1; b=2',
    accept_language: 'kept',
    'x-forwarded-for': '1.2.3.4',
  });
  assert.equal(stripEdgeCookies('Gatehouse_Authorization=t'), undefined);
  assert.equal(stripEdgeCookies('a=1'), 'a=1');
});

test('hostOf: the hostname of a Host header, lower-cased, without its port', () => {
  for (const [header, expected] of [
    ['app.test', 'app.test'],
    ['App.TEST', 'app.test'],
    ['  app.test:8443 ', 'app.test'],
    ['app.test:', 'app.test'], // an empty port is allowed (RFC 9110 §7.2: port = *DIGIT)
    // Only the name is compared with SNI and the port is not used: any 0-5 digits pass.
    ['app.test:0', 'app.test'],
    ['app.test:99999', 'app.test'],
    // A trailing dot is kept: "app.test." is not the SNI "app.test" (then 421).
    ['app.test.', 'app.test.'],
    ['[::1]', '::1'],
    ['[::1]:443', '::1'],
    ['[2001:DB8::1]:8443', '2001:db8::1'],
    ['127.0.0.1:80', '127.0.0.1'],
  ])
    assert.equal(hostOf(header), expected, header);
});

test('hostOf: malformed Host headers are refused, not cut short', () => {
  for (const header of [
    undefined,
    '',
    '   ',
    ':443',
    'app.test:123456', // more than 5 digits
    'app.test:-1',
    'app.test:+443',
    'app.test:44a',
    'app.test:443:443',
    'user@app.test',
    'user:pass@app.test',
    'app.test@evil.test',
    '::1', // an IPv6 literal without brackets
    '::1:443',
    '[::1',
    '::1]',
    '[::1]x',
    '[::1]:443x',
    '[]',
    '[v1.fe]',
    '[::1%25eth0]',
    'app.test/evil',
    'app.test?x',
    'app.test#x',
    'app.test\\evil.test',
    'app test',
    'app.test,evil.test',
    'caf\u00e9.test',
    'app.test\u0000',
    '*',
  ])
    assert.equal(hostOf(header), undefined, JSON.stringify(header));
});

test('originFormTarget: origin-form targets are normalised, absolute ones reduced to their path', () => {
  for (const [target, host, expected] of [
    ['/a/%61?q=1', 'app.test', '/a/a?q=1'],
    ['/a', undefined, '/a'], // an origin-form target does not need Host here (admission checks it)
    ['https://app.test/x?y', 'app.test', '/x?y'],
    ['http://app.test/x', 'app.test', '/x'],
    ['HTTPS://APP.TEST:8443/%61', 'app.test:8443', '/a'],
    ['https://app.test:443/x', 'app.test', '/x'], // ports are not compared
    ['https://app.test', 'app.test', '/'],
    ['https://[::1]:8443/x', '[::1]', '/x'],
    ['https://app.test./x', 'app.test.', '/x'],
    // WHATWG URL resolves dot segments: what is judged and forwarded is the resolved path.
    ['https://app.test/a/../admin', 'app.test', '/admin'],
  ] as const)
    assert.equal(originFormTarget(target, host), expected, `${target} (Host ${host})`);
});

test('originFormTarget: other hosts, userinfo, other schemes and ambiguous paths are refused', () => {
  for (const [target, host] of [
    [undefined, 'app.test'],
    ['', 'app.test'],
    ['*', 'app.test'],
    ['app.test/x', 'app.test'],
    ['//app.test/x', 'app.test'], // "//" is an empty segment, not an authority
    ['https://evil.test/x', 'app.test'],
    ['https://app.test/x', 'evil.test'],
    ['https://app.test/x', undefined],
    ['https://app.test/x', ''],
    ['https://app.test/x', 'user@app.test'],
    ['https://app.test./x', 'app.test'], // trailing dot: another name
    ['https://user@app.test/x', 'app.test'],
    ['https://user:pass@app.test/x', 'app.test'],
    ['https://:pass@app.test/x', 'app.test'],
    ['ftp://app.test/x', 'app.test'],
    ['ws://app.test/x', 'app.test'],
    ['file:///etc/passwd', 'app.test'],
    ['https://app.test:99999/x', 'app.test'], // new URL refuses a port out of range
    ['https://app.test/a%2fb', 'app.test'],
    ['https://app.test/a;b', 'app.test'],
    ['https://app.test//admin', 'app.test'],
  ] as const)
    assert.equal(originFormTarget(target, host), undefined, `${target} (Host ${host})`);
});
