import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDeviceKey, type KeyProviderOptions, loadDeviceKey } from '../../../src/agent/keys/index.js';
import { type SoftHsm, startSoftHsm } from '../../helpers/softhsm.js';
import { skipUnlessTools } from '../../helpers/tools.js';
import { assertKeyError, providerTests, type SuiteState } from './provider-suite.js';
import { assertTokenKeyGone, assertTokenKeyProtected } from './token-checks.js';

describe(
  'pkcs11 device keys (SoftHSM2)',
  { skip: skipUnlessTools('softhsm2-util', 'pkcs11-tool', 'openssl') },
  () => {
    let dir: string;
    let hsm: SoftHsm;
    let opts: KeyProviderOptions;
    let state: SuiteState;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'gatehouse-keys-p11-'));
      hsm = await startSoftHsm({ userPin: 'hsm;pin?%&=3 4' });
      // SoftHSM reads its config when the module is initialised in this process.
      process.env.SOFTHSM2_CONF = hsm.env.SOFTHSM2_CONF;
      opts = {
        provider: 'pkcs11',
        stateDir: join(dir, 'state'),
        pkcs11Module: hsm.module,
        pkcs11Token: hsm.token,
        pkcs11PinFile: hsm.pinFile,
      };
    });
    after(async () => {
      await hsm?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    describe('provider', () => {
      state = providerTests(() => ({
        opts,
        env: hsm.env,
        dir,
        checkProtection: (key) => assertTokenKeyProtected(key, hsm.module, hsm.userPin, hsm.env),
        checkGone: (ref) => assertTokenKeyGone(ref, hsm.module, hsm.userPin, hsm.env),
      }));
    });

    // After the provider tests closed their key: the token is logged out again, so the PIN is checked.
    test('a wrong PIN → wrong_pin', async () => {
      assert.ok(state.ref);
      const wrong = join(dir, 'wrong.pin');
      await writeFile(wrong, '000000\n', { mode: 0o600 });
      await assert.rejects(
        loadDeviceKey({ ...opts, pkcs11PinFile: wrong }, state.ref),
        assertKeyError('wrong_pin'),
      );
      await assert.rejects(
        createDeviceKey({ ...opts, pkcs11PinFile: wrong }, 'never'),
        assertKeyError('wrong_pin'),
      );
    });

    test('no PIN file → pin_unavailable', async () => {
      await assert.rejects(
        createDeviceKey({ ...opts, pkcs11PinFile: undefined }, 'x'),
        assertKeyError('pin_unavailable'),
      );
      await assert.rejects(
        createDeviceKey({ ...opts, pkcs11PinFile: join(dir, 'missing.pin') }, 'x'),
        assertKeyError('pin_unavailable'),
      );
    });

    test('an unknown token label → token_not_found', async () => {
      await assert.rejects(
        createDeviceKey({ ...opts, pkcs11Token: 'no-such-token' }, 'x'),
        assertKeyError('token_not_found'),
      );
    });

    test('a module that cannot be loaded → no_tpm', async () => {
      await assert.rejects(
        createDeviceKey({ ...opts, pkcs11Module: join(dir, 'no-such-module.so') }, 'x'),
        assertKeyError('no_tpm'),
      );
    });

    test('tlsOptions outside the engine process → engine_unavailable', async () => {
      assert.ok(state.ref);
      const key = await loadDeviceKey(opts, state.ref);
      try {
        assert.throws(
          () => key.tlsOptions('-----BEGIN CERTIFICATE-----\n'),
          assertKeyError('engine_unavailable'),
        );
      } finally {
        await key.close();
      }
    });
  },
);
