// parseServeConfig: `serve`'s options are checked before anything starts; every refusal is a
// GatehouseError with a code and a 4xx status (the CLI prints it without a stack trace).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseServeConfig } from '../../src/cli/serve.js';
import { isGatehouseError } from '../../src/errors/index.js';

const good = {
  dataDir: '/var/lib/gatehouse',
  edgeListen: '127.0.0.1:8443',
  workers: 2,
  accessLog: true,
  backgroundInterval: 30,
};

const refused = (raw: unknown, code: string, message: RegExp) =>
  assert.throws(
    () => parseServeConfig(raw),
    (err: unknown) => {
      assert.ok(isGatehouseError(err), `a GatehouseError, not ${String(err)}`);
      assert.equal(err.code, code);
      assert.ok(err.status >= 400 && err.status < 500, `status ${err.status}`);
      assert.match(err.message, message);
      return true;
    },
  );

describe('parseServeConfig', () => {
  test('good options: addresses parsed, intervals in ms, optional parts absent', () => {
    assert.deepEqual(parseServeConfig(good), {
      dataDir: '/var/lib/gatehouse',
      edge: { host: '127.0.0.1', port: 8443 },
      workers: 2,
      accessLog: true,
      backgroundIntervalMs: 30_000,
    });
    const full = parseServeConfig({
      ...good,
      apiListen: '[::1]:7443',
      tlsCert: 'cert.pem',
      tlsKey: 'key.pem',
      adminIdp: 'idp-1',
      adminEmail: 'a@example.com,b@example.com',
      adminGroup: ['admins'],
    });
    assert.deepEqual(full.api, { host: '::1', port: 7443 });
    assert.deepEqual(full.tlsFiles, { certificate: 'cert.pem', key: 'key.pem' });
    assert.equal(full.adminSignIn?.identityProviderId, 'idp-1');
  });

  test('bad ports and addresses → invalid_listen', () => {
    refused({ ...good, edgeListen: '127.0.0.1:65536' }, 'invalid_listen', /65536/);
    refused({ ...good, edgeListen: '127.0.0.1:-1' }, 'invalid_listen', /-1/);
    refused({ ...good, apiListen: 'localhost' }, 'invalid_listen', /HOST:PORT/);
    refused({ ...good, apiListen: ':7443' }, 'invalid_listen', /:7443/);
    refused({ ...good, edgeListen: '127.0.0.1:123456' }, 'invalid_listen', /123456/);
  });

  test('unknown keys → invalid_config naming the key', () => {
    refused({ ...good, wokers: 4 }, 'invalid_config', /wokers/);
    refused({ ...good, __proto__: { polluted: true }, constructor: 'x' }, 'invalid_config', /constructor/);
  });

  test('wrong types and out-of-range values → invalid_config naming the option', () => {
    refused({ ...good, workers: '4' }, 'invalid_config', /workers/);
    refused({ ...good, workers: 0 }, 'invalid_config', /workers/);
    refused({ ...good, workers: 257 }, 'invalid_config', /workers/);
    refused({ ...good, workers: 1.5 }, 'invalid_config', /workers/);
    refused({ ...good, workers: Number.NaN }, 'invalid_config', /workers/);
    refused({ ...good, backgroundInterval: 0 }, 'invalid_config', /backgroundInterval/);
    refused({ ...good, backgroundInterval: 3601 }, 'invalid_config', /backgroundInterval/);
    refused({ ...good, accessLog: 'yes' }, 'invalid_config', /accessLog/);
    refused({ ...good, edgeListen: 8443 }, 'invalid_config', /edgeListen/);
    refused({ ...good, dataDir: '' }, 'invalid_config', /dataDir/);
    refused({ ...good, adminEmail: [1, 2] }, 'invalid_config', /adminEmail/);
    refused({ ...good, edgeListen: `${'a'.repeat(400)}:1` }, 'invalid_config', /edgeListen/);
  });

  test('missing options and non-objects → invalid_config', () => {
    const { workers: _omitted, ...noWorkers } = good;
    refused(noWorkers, 'invalid_config', /workers/);
    refused(null, 'invalid_config', /serve/);
    refused('serve', 'invalid_config', /serve/);
    refused([good], 'invalid_config', /serve/);
  });

  test('--tls-cert without --tls-key (and the reverse) → invalid_argument', () => {
    refused({ ...good, tlsCert: 'cert.pem' }, 'invalid_argument', /--tls-cert and --tls-key/);
    refused({ ...good, tlsKey: 'key.pem' }, 'invalid_argument', /--tls-cert and --tls-key/);
  });

  test('admin sign-in: an identity provider without admins is refused as adminSignInConfig refuses it', () => {
    assert.throws(
      () => parseServeConfig({ ...good, adminIdp: 'idp-1' }),
      (err: unknown) => {
        assert.ok(isGatehouseError(err));
        assert.ok(err.status >= 400 && err.status < 500);
        return true;
      },
    );
  });
});
