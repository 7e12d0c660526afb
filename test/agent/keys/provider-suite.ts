// The checks every key provider must pass (registered into the caller's describe()):
// create → CSR verified by openssl → protection → mTLS from a fresh process that loads the key
// again → deletion → errors for a missing key.

import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, X509Certificate } from 'node:crypto';
import { after, before, test } from 'node:test';
import {
  createDeviceKey,
  deleteDeviceKey,
  type DeviceKey,
  type KeyProviderOptions,
  type KeyReference,
  loadDeviceKey,
} from '../../../src/agent/keys/index.js';
import { isGatehouseError } from '../../../src/errors/index.js';
import {
  fingerprint,
  issueClientCert,
  makePki,
  opensslVerifyCsr,
  type Pki,
  runTlsClient,
  startMtlsServer,
} from './fixtures.js';

export interface ProviderFixture {
  opts: KeyProviderOptions;
  /** env for child processes (token config, dbus address) */
  env: Record<string, string>;
  /** a scratch dir removed by the caller */
  dir: string;
  /** asserts that the private key cannot leave its store */
  checkProtection(key: DeviceKey): Promise<void>;
  /** asserts, looking into the store independently, that nothing of the key is left */
  checkGone(ref: KeyReference): Promise<void>;
}

export function assertKeyError(code: string) {
  return (err: unknown) => {
    assert.ok(isGatehouseError(err), `expected a GatehouseError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  };
}

export interface SuiteState {
  ref?: KeyReference;
  publicKeyPem?: string;
}

/** Registers the shared tests; `fixture()` is called in before(). Returns what later tests need. */
export function providerTests(fixture: () => ProviderFixture): SuiteState {
  const state: SuiteState = {};
  let f: ProviderFixture;
  let key: DeviceKey | undefined;
  let pki: Pki;
  let csrPem: string;

  before(async () => {
    f = fixture();
    pki = await makePki(f.dir);
  });
  after(async () => {
    await key?.close();
  });

  test('creates an ECDSA P-256 key whose reference survives JSON', async () => {
    key = await createDeviceKey(f.opts, 'gatehouse-device');
    assert.equal(key.protection, f.opts.provider);
    const pub = createPublicKey(key.publicKeyPem);
    assert.equal(pub.asymmetricKeyType, 'ec');
    assert.equal(pub.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const ref = JSON.parse(JSON.stringify(key.reference)) as KeyReference;
    assert.deepEqual(ref, key.reference);
    assert.equal(ref.provider, f.opts.provider);
    assert.doesNotMatch(JSON.stringify(ref), /PRIVATE KEY|BEGIN/);
    state.ref = ref;
    state.publicKeyPem = key.publicKeyPem;
  });

  test('the CSR is signed by the key (openssl req -verify)', async () => {
    assert.ok(key);
    csrPem = await key.createCsr({ commonName: 'device-0001' });
    assert.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----/);
    const csr = await opensslVerifyCsr(f.dir, csrPem);
    assert.match(csr.subject, /CN\s*=\s*device-0001/);
    assert.equal(csr.publicKeyPem.trim(), key.publicKeyPem.trim());
  });

  test('the private key cannot leave its store', async () => {
    assert.ok(key);
    await f.checkProtection(key);
  });

  test('a fresh process loads the same key and makes mTLS requests with it (node:https, undici)', async () => {
    assert.ok(key && state.ref);
    const certPem = await issueClientCert(f.dir, pki, csrPem);
    const server = await startMtlsServer(pki);
    try {
      const result = await runTlsClient(
        f.dir,
        { opts: f.opts, ref: state.ref, certPem, caPem: pki.ca.pem, url: server.url },
        f.env,
      );
      assert.equal(result.error, undefined, JSON.stringify(result.error));
      assert.equal(result.publicKeyPem, key.publicKeyPem, 'loadDeviceKey found another key');
      const fp = fingerprint(certPem);
      for (const via of [result.https, result.undici]) {
        assert.equal(via?.status, 200);
        assert.equal(via?.body.cn, 'device-0001');
        assert.equal(via?.body.fingerprint256, fp);
      }
      assert.deepEqual(server.seen, [fp, fp]);
      if (f.opts.provider === 'software') {
        assert.equal(result.engineConfig, null, 'software keys need no engine');
      } else {
        assert.ok(result.engineConfig, 'the handshake ran in the engine process');
        assert.ok(
          result.execArgv?.includes(`--openssl-config=${result.engineConfig}`),
          String(result.execArgv),
        );
      }
    } finally {
      await server.close();
    }
  });

  test('registration in one process: create, CSR, certificate, mTLS', async () => {
    const server = await startMtlsServer(pki);
    try {
      const result = await runTlsClient(
        f.dir,
        {
          opts: f.opts,
          issue: { dir: f.dir, pki, commonName: 'device-0002' },
          caPem: pki.ca.pem,
          url: server.url,
        },
        f.env,
      );
      assert.equal(result.error, undefined, JSON.stringify(result.error));
      assert.ok(result.reference && result.certPem && result.publicKeyPem);
      const fp = fingerprint(result.certPem);
      assert.equal(result.https?.body.fingerprint256, fp);
      assert.equal(result.undici?.body.cn, 'device-0002');
      assert.deepEqual(server.seen, [fp, fp]);
      assert.notEqual(result.publicKeyPem, state.publicKeyPem, 'a new key');
      const certKey = new X509Certificate(result.certPem).publicKey.export({ type: 'spki', format: 'pem' });
      assert.equal(certKey, result.publicKeyPem);
      // (Not loaded again here: tpm2-pkcs11 reads its store when it initialises, so this process,
      // which holds a key of the token, does not see objects another process created since.)
    } finally {
      await server.close();
    }
  });

  test('destroy() and deleteDeviceKey() remove the key from its store; other keys stay', async () => {
    assert.ok(state.ref);
    const doomed = await createDeviceKey(f.opts, 'gatehouse-doomed');
    const doomedRef = doomed.reference;
    await doomed.destroy();
    await f.checkGone(doomedRef);
    await assert.rejects(loadDeviceKey(f.opts, doomedRef), assertKeyError('key_not_found'));

    const byRef = await createDeviceKey(f.opts, 'gatehouse-doomed-2');
    const byRefRef = JSON.parse(JSON.stringify(byRef.reference)) as KeyReference;
    await byRef.close();
    assert.equal(await deleteDeviceKey(f.opts, byRefRef), true);
    await f.checkGone(byRefRef);
    assert.equal(await deleteDeviceKey(f.opts, byRefRef), false, 'a second deletion finds nothing');

    // A reference whose public key is not the stored key's deletes nothing.
    await assert.rejects(
      deleteDeviceKey(f.opts, { ...state.ref, spkiSha256: '0'.repeat(64) }),
      assertKeyError('key_not_found'),
    );
    const survivor = await loadDeviceKey(f.opts, state.ref);
    assert.equal(survivor.publicKeyPem, state.publicKeyPem);
    await survivor.close();
  });

  test('loading a reference to a key that is not there → key_not_found', async () => {
    assert.ok(state.ref);
    const missing: KeyReference =
      state.ref.provider === 'software'
        ? { ...state.ref, file: 'device-key-0000000000000000.pem' }
        : { ...state.ref, id: randomBytes(16).toString('hex') };
    await assert.rejects(loadDeviceKey(f.opts, missing), assertKeyError('key_not_found'));
  });

  return state;
}
