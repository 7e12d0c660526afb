// Applications: choosing one for a request (longest path prefix, segment boundaries, canonical
// paths), parsing their domains, and session durations. Table-driven.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AppIndex,
  canonicalPath,
  formatDomain,
  MAX_SESSION_DURATION_MS,
  parseDomain,
  parseDuration,
  selectApp,
} from '../../../src/access/policy/index.js';

describe('selectApp: longest matching path prefix', () => {
  const apps = [
    { id: 'root', hostname: 'app.example.com', pathPrefix: '/' },
    { id: 'admin-api', hostname: 'app.example.com', pathPrefix: '/admin/api' },
    { id: 'admin', hostname: 'app.example.com', pathPrefix: '/admin' },
    { id: 'docs', hostname: 'docs.example.com', pathPrefix: '/internal' },
    { id: 'docs-dup', hostname: 'docs.example.com', pathPrefix: '/internal' },
  ];
  const index = new AppIndex(apps);
  const rows: [hostname: string, path: string, expected: string | undefined][] = [
    ['app.example.com', '/', 'root'],
    ['app.example.com', '/index.html', 'root'],
    ['app.example.com', '/admin', 'admin'],
    ['app.example.com', '/admin/', 'admin'],
    ['app.example.com', '/admin/users/7', 'admin'],
    ['app.example.com', '/admin?q=1', 'admin'],
    ['app.example.com', '/admin#top', 'admin'],
    ['app.example.com', '/administrator', 'root'],
    ['app.example.com', '/admins/x', 'root'],
    ['app.example.com', '/admin/api', 'admin-api'],
    ['app.example.com', '/admin/api/v1/users', 'admin-api'],
    ['app.example.com', '/admin/apis', 'admin'],
    ['app.example.com', '/x?next=/admin', 'root'],
    ['app.example.com', '/ADMIN', 'root'],
    ['APP.Example.COM', '/admin', 'admin'],
    ['app.example.com.', '/admin', 'admin'],
    // Encodings and dot segments cannot dodge the more specific application.
    ['app.example.com', '/%61dmin', 'admin'],
    ['app.example.com', '/%61%64%6D%69%6E/api/', 'admin-api'],
    ['app.example.com', '//admin', 'admin'],
    ['app.example.com', '/./admin', 'admin'],
    ['app.example.com', '/x/../admin', 'admin'],
    ['app.example.com', '/x/%2e%2e/admin', 'admin'],
    ['app.example.com', '/../../admin', 'admin'],
    ['app.example.com', '/public%2F..%2Fadmin', 'admin'],
    ['app.example.com', '/public\\..\\admin', 'admin'],
    ['app.example.com', '/admin;jsessionid=1/api', 'admin-api'],
    ['app.example.com', '/admin/../public', 'root'],
    ['app.example.com', 'http://app.example.com/admin/x', 'admin'],
    ['app.example.com', '*', 'root'],
    ['docs.example.com', '/internal/a', 'docs'],
    ['docs.example.com', '/', undefined],
    ['docs.example.com', '/internals', undefined],
    ['unknown.example.com', '/admin', undefined],
    ['example.com', '/admin', undefined],
  ];
  for (const [hostname, path, expected] of rows) {
    test(`${hostname} ${path} → ${expected ?? 'none'}`, () => {
      assert.equal(selectApp(apps, hostname, path)?.id, expected);
      assert.equal(index.select(hostname, path)?.id, expected);
    });
  }

  test('only a whole-hostname application: any path', () => {
    const only = new AppIndex([{ id: 'a', hostname: 'a.example.com', pathPrefix: '/' }]);
    assert.equal(only.select('a.example.com', '/anything/at/all')?.id, 'a');
    assert.equal(only.hasHostname('A.example.com'), true);
    assert.equal(only.hasHostname('b.example.com'), false);
  });
});

describe('canonicalPath', () => {
  const rows: [string, string][] = [
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/b/', '/a/b/'],
    ['/a?x=/b', '/a'],
    ['/a#/b', '/a'],
    ['/a.b/c.d', '/a.b/c.d'],
    ['/%7Euser', '/~user'],
    ['/%c3%a9', '/%C3%A9'],
    ['/a%252e%252e/b', '/a%252e%252e/b'],
    ['/a/./b/../c', '/a/c'],
    ['/a//b///c', '/a/b/c'],
    ['/a;p=1/b;q', '/a/b'],
    ['/a\\b', '/a/b'],
    ['/a%2fb', '/a/b'],
    ['/a%zz', '/a%zz'],
    ['https://h.example:8443/a/b?c', '/a/b'],
    ['https://h.example', '/'],
    ['*', '/'],
    ['', '/'],
  ];
  for (const [input, expected] of rows) {
    test(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(canonicalPath(input), expected));
  }
});

describe('parseDomain', () => {
  const valid: [string, string, string][] = [
    ['app.example.com', 'app.example.com', '/'],
    ['app.example.com/', 'app.example.com', '/'],
    ['App.Example.COM.', 'app.example.com', '/'],
    ['app.example.com/admin', 'app.example.com', '/admin'],
    ['app.example.com/admin/', 'app.example.com', '/admin'],
    ['app.example.com/Admin/API', 'app.example.com', '/Admin/API'],
    ['app.example.com/%7euser/%c3%a9', 'app.example.com', '/~user/%C3%A9'],
    ['localhost', 'localhost', '/'],
    ['a-b.c-d.example/x.y/z~1', 'a-b.c-d.example', '/x.y/z~1'],
  ];
  for (const [domain, hostname, pathPrefix] of valid) {
    test(`${domain} → ${hostname} ${pathPrefix}`, () => {
      assert.deepEqual(parseDomain(domain), { hostname, pathPrefix });
    });
  }

  const invalid: [string, RegExp][] = [
    ['', /1 to 1280/],
    ['https://app.example.com', /scheme/],
    ['app.example.com/a?b=1', /query/],
    ['app.example.com/a#b', /fragment/],
    ['app.example.com:8443', /port/],
    ['app.example.com:8443/a', /port/],
    ['*.example.com', /DNS name/],
    ['10.0.0.1', /DNS name/],
    ['-app.example.com', /DNS name/],
    ['app..example.com', /DNS name/],
    ['app_example.com', /DNS name/],
    ['app.example.com/a b', /only letters/],
    ['app.example.com/a\\b', /only letters/],
    ['app.example.com/é', /only letters/],
    ['app.example.com//a', /empty path segments/],
    ['app.example.com/a//b', /empty path segments/],
    ['app.example.com/a/../b', /"\." or "\.\."/],
    ['app.example.com/./a', /"\." or "\.\."/],
    ['app.example.com/%2e%2e', /"\." or "\.\."/],
    ['app.example.com/a%2fb', /encoded/],
    ['app.example.com/a%5Cb', /encoded/],
    ['app.example.com/a%zz', /hex escape/],
    ['app.example.com/a%0a', /control/],
    ['app.example.com/a;b', /";"/],
    [`${'a'.repeat(64)}.example.com`, /DNS name/],
  ];
  for (const [domain, message] of invalid) {
    test(`rejects ${JSON.stringify(domain)}`, () => {
      assert.throws(
        () => parseDomain(domain),
        (err: Error & { code?: string; status?: number }) =>
          err.code === 'invalid_domain' && err.status === 400 && message.test(err.message),
      );
    });
  }

  test('formatDomain is the normalised form', () => {
    assert.equal(formatDomain(parseDomain('App.Example.com/admin/')), 'app.example.com/admin');
    assert.equal(formatDomain(parseDomain('app.example.com/')), 'app.example.com');
  });

  test('a parsed prefix selects requests for that prefix, however they are encoded', () => {
    const app = { id: 'a', ...parseDomain('app.example.com/%7euser/docs/') };
    assert.equal(selectApp([app], 'app.example.com', '/~user/docs/x')?.id, 'a');
    assert.equal(selectApp([app], 'app.example.com', '/%7Euser/docs')?.id, 'a');
    assert.equal(selectApp([app], 'app.example.com', '/~user/docsx'), undefined);
  });
});

describe('parseDuration', () => {
  const valid: [string, number][] = [
    ['0s', 0],
    ['45s', 45_000],
    ['30m', 1_800_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['1h30m', 5_400_000],
    ['1d12h', 129_600_000],
    ['2h0m5s', 7_205_000],
    ['30d', MAX_SESSION_DURATION_MS],
    ['720h', MAX_SESSION_DURATION_MS],
  ];
  for (const [text, ms] of valid) {
    test(`${text} → ${ms} ms`, () => assert.equal(parseDuration(text), ms));
  }

  const invalid = [
    '',
    '0',
    '24',
    'h',
    '24H',
    ' 24h',
    '24h ',
    '1.5h',
    '-1h',
    '30m1h',
    '1h1h',
    '1w',
    '10ms',
    'forever',
    '31d',
    '721h',
    '2592001s',
    '99999d',
  ];
  for (const text of invalid) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseDuration(text),
        (err: Error & { code?: string; status?: number }) =>
          err.code === 'invalid_duration' && err.status === 400,
      );
    });
  }
});
