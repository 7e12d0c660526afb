// What the edge answers itself, unit by unit: the access decision → reply mapping, the access log
// line, and the raw answers of the refusal path.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AccessDecision } from '../../src/access/index.js';
import { accessLogEntry } from '../../src/edge/access-log.js';
import { accessFailure, accessResult } from '../../src/edge/access-reply.js';
import type { Admission } from '../../src/edge/admission.js';
import type { HostRuntime } from '../../src/edge/snapshot.js';
import { badRequest } from '../../src/errors/index.js';
import { clientErrorResponse, edgeError, originFailure, rawResponse } from '../../src/edge/responses.js';

const JSON_ACCEPT = 'application/json';

test('access decisions: none, bypass and allow forward; allow adds the assertion and cookies', () => {
  assert.deepEqual(accessResult({ kind: 'none' }, undefined), { kind: 'none', forward: {} });
  assert.deepEqual(accessResult({ kind: 'bypass' }, undefined), { kind: 'bypass', forward: {} });
  assert.deepEqual(accessResult({ kind: 'allow', assertion: 'jwt' }, undefined), {
    kind: 'allow',
    forward: { assertion: 'jwt', setCookie: undefined },
  });
  assert.deepEqual(accessResult({ kind: 'allow', assertion: 'jwt', setCookie: ['s=1'] }, undefined), {
    kind: 'allow',
    forward: { assertion: 'jwt', setCookie: ['s=1'] },
  });
});

test('access decisions: a finished login, a login to start and JWKS are answered by the edge', () => {
  assert.deepEqual(
    accessResult({ kind: 'allow', assertion: 'jwt', setCookie: ['s=1'], redirect: '/back' }, undefined),
    {
      kind: 'login_complete',
      reply: {
        status: 302,
        headers: { location: '/back', 'cache-control': 'no-store', 'set-cookie': ['s=1'] },
        body: '',
      },
    },
  );
  const cookies = ['login=state'];
  const login = accessResult(
    { kind: 'login', redirect: 'https://idp.test/auth?x', setCookie: cookies },
    undefined,
  );
  assert.deepEqual(login, {
    kind: 'login',
    reply: {
      status: 302,
      headers: {
        location: 'https://idp.test/auth?x',
        'cache-control': 'no-store',
        'set-cookie': ['login=state'],
      },
      body: '',
    },
  });
  assert.ok('reply' in login && login.reply.headers['set-cookie'] !== cookies, 'a copy of the cookie list');
  // No Set-Cookie header at all when there is no cookie to set.
  assert.deepEqual(accessResult({ kind: 'login', redirect: '/x', setCookie: [] }, undefined), {
    kind: 'login',
    reply: { status: 302, headers: { location: '/x', 'cache-control': 'no-store' }, body: '' },
  });
  const jwks = { keys: [{ kty: 'EC', kid: 'k' }] } as unknown as Extract<
    AccessDecision,
    { kind: 'jwks' }
  >['body'];
  assert.deepEqual(accessResult({ kind: 'jwks', body: jwks }, undefined), {
    kind: 'jwks',
    reply: {
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
      body: '{"keys":[{"kty":"EC","kid":"k"}]}',
    },
  });
});

test('access decisions: deny is 403, unauthenticated 401 with its reason, in JSON when asked', () => {
  assert.deepEqual(accessResult({ kind: 'deny', reason: 'policy' }, JSON_ACCEPT), {
    kind: 'deny',
    reply: {
      status: 403,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: JSON.stringify({ error: 'access_denied', message: 'Forbidden: access denied (policy)' }),
    },
  });
  assert.deepEqual(accessResult({ kind: 'unauthenticated', reason: 'token_expired' }, 'text/html'), {
    kind: 'unauthenticated',
    reply: {
      status: 401,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
      body: '401 Unauthorized: sign in through the identity provider first (token_expired)\n',
    },
  });
});

test('a failed access decision: a Gatehouse error keeps its status and code, anything else is 500', () => {
  assert.deepEqual(
    accessFailure(badRequest('login_state_invalid', 'the login state is invalid'), JSON_ACCEPT),
    {
      kind: 'error',
      reply: {
        status: 400,
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        body: JSON.stringify({ error: 'login_state_invalid', message: 'the login state is invalid' }),
      },
    },
  );
  const internal = accessFailure(new Error('secret internals'), undefined);
  assert.ok('reply' in internal);
  assert.equal(internal.reply.status, 500);
  assert.equal(internal.reply.body, '500 Access could not decide this request (internal_error)\n');
});

test('the access log line', () => {
  const host = { hostname: 'app.test', mode: 'enforce' } as HostRuntime;
  const admitted: Admission = {
    host,
    verdict: { status: 'invalid', reason: 'revoked', ski: 'unverified-ski' },
    response: edgeError(403, 'x', 'y', undefined),
  };
  assert.deepEqual(accessLogEntry('GET', '/a', '192.0.2.7', admitted, 403, 1.5, undefined, undefined), {
    type: 'access',
    hostname: 'app.test',
    method: 'GET',
    path: '/a',
    status: 403,
    cert_status: 'invalid',
    cert_reason: 'revoked',
    ski: 'unverified-ski',
    access: undefined,
    client: '192.0.2.7',
    duration_ms: 1.5,
    upstream_ms: undefined,
  });
  const valid: Admission = {
    host,
    verdict: { status: 'valid', cert: { ski: 'verified-ski' } as never, ski: 'other' },
    headers: [],
  };
  const line = accessLogEntry('POST', '/b', undefined, valid, 200, 3, 2, 'allow');
  assert.equal(line.ski, 'verified-ski', "a validated certificate's SKI first");
  assert.equal(line.access, 'allow');
  assert.equal(line.upstream_ms, 2);
  // Refused before any hostname was known (malformed Host, unknown SNI).
  const early = accessLogEntry(
    'GET',
    '/',
    undefined,
    { response: edgeError(400, 'x', 'y', undefined) },
    400,
    0,
    undefined,
    undefined,
  );
  assert.equal(early.hostname, 'unknown');
  assert.equal(early.cert_status, 'none');
  assert.equal(early.ski, undefined);
});

test('origin failures: 504 when it timed out, 502 otherwise', () => {
  assert.deepEqual(originFailure('gateway_timeout', undefined), {
    status: 504,
    contentType: 'text/plain; charset=utf-8',
    body: '504 Gateway Timeout: the origin did not answer in time (gateway_timeout)\n',
  });
  assert.deepEqual(originFailure('bad_gateway', JSON_ACCEPT), {
    status: 502,
    contentType: 'application/json',
    body: JSON.stringify({ error: 'bad_gateway', message: 'Bad Gateway: the origin could not be reached' }),
  });
});

test('raw answers of the refusal path close the connection and are framed exactly', () => {
  for (const [status, text] of [
    [400, 'Bad Request'],
    [408, 'Request Timeout'],
    [431, 'Request Header Fields Too Large'],
  ] as const) {
    const raw = clientErrorResponse(status);
    const [head, body] = raw.split('\r\n\r\n') as [string, string];
    assert.equal(head.split('\r\n')[0], `HTTP/1.1 ${status} ${text}`);
    assert.match(head, /\r\nconnection: close\r\n/);
    assert.equal(body, `${text}\n`);
    assert.match(head, new RegExp(`content-length: ${Buffer.byteLength(body)}$`));
  }

  const r = edgeError(421, 'misdirected_request', 'Misdirected Request: é', undefined);
  const raw = rawResponse(r, false);
  const [head, body] = raw.split('\r\n\r\n') as [string, string];
  const lines = head.split('\r\n');
  assert.equal(lines[0], 'HTTP/1.1 421 Misdirected Request');
  assert.match(lines[1] ?? '', /^date: \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  assert.deepEqual(lines.slice(2), [
    'content-type: text/plain; charset=utf-8',
    `content-length: ${Buffer.byteLength(r.body)}`,
    'cache-control: no-store',
    'connection: close',
  ]);
  assert.equal(body, r.body);
  assert.notEqual(Buffer.byteLength(body), body.length, 'the length counts UTF-8 bytes');
  assert.equal(rawResponse(r, true), `${head}\r\n\r\n`, 'HEAD: the same head, no body');
});
