// The edge's request-target rule: the path judged is the path forwarded (docs/edge.md).
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { strippedHeaders, stripEdgeCookies } from '../../src/edge/headers.js';
import { upstreamHeaders } from '../../src/edge/proxy.js';
import { normaliseTarget } from '../../src/edge/target.js';

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
