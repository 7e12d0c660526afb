import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDeviceKey, type KeyProviderOptions, loadDeviceKey } from '../../../src/agent/keys/index.js';
import { requireTool, runOk, skipUnlessTools } from '../../helpers/tools.js';
import { SOFT_TPM_TOOLS, type SoftTpm, startSoftTpm } from '../../helpers/tpm.js';
import { assertKeyError, providerTests, type SuiteState } from './provider-suite.js';
import { assertTokenKeyGone, assertTokenKeyProtected } from './token-checks.js';

async function lockoutState(tpm: SoftTpm): Promise<{ counter: number; inLockout: boolean }> {
  const r = await runOk(requireTool('tpm2_getcap'), ['properties-variable'], { env: tpm.env });
  const counter = Number.parseInt(
    /TPM2_PT_LOCKOUT_COUNTER:\s*(0x[0-9a-f]+)/i.exec(r.stdout)?.[1] ?? 'NaN',
    16,
  );
  const inLockout = /inLockout:\s*1/.test(r.stdout);
  return { counter, inLockout };
}

describe(
  'tpm2 device keys (swtpm + tpm2-abrmd + tpm2-pkcs11)',
  { skip: skipUnlessTools(...SOFT_TPM_TOOLS, 'tpm2_getcap', 'pkcs11-tool', 'openssl') },
  () => {
    let dir: string;
    let tpm: SoftTpm;
    let opts: KeyProviderOptions;
    let state: SuiteState;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'gatehouse-keys-tpm-'));
      // A PIN with URI-special characters: the engine gets it percent-encoded in a pkcs11: URI.
      tpm = await startSoftTpm({ userPin: 'tpm;pin?%&=1 2' });
      // tpm2-pkcs11 reaches tpm2-abrmd over the private session bus.
      process.env.DBUS_SESSION_BUS_ADDRESS = tpm.env.DBUS_SESSION_BUS_ADDRESS;
      opts = {
        provider: 'tpm2',
        stateDir: join(dir, 'state'),
        tpmTcti: tpm.tcti,
        tpm2PkcsStore: tpm.store,
        pkcs11Token: tpm.token,
        pkcs11PinFile: tpm.pinFile,
      };
    });
    after(async () => {
      await tpm?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    // First, before this process has initialised tpm2-pkcs11 with the working TCTI.
    test('an unreachable TPM → no_tpm', async () => {
      await assert.rejects(
        createDeviceKey({ ...opts, tpmTcti: tpm.deadTcti }, 'x'),
        assertKeyError('no_tpm'),
      );
      await assert.rejects(
        createDeviceKey({ ...opts, tpmTcti: 'device:/dev/no-such-tpmrm0' }, 'x'),
        assertKeyError('no_tpm'),
      );
    });

    describe('provider', () => {
      state = providerTests(() => ({
        opts,
        env: tpm.env,
        dir,
        checkProtection: (key) => assertTokenKeyProtected(key, tpm.module, tpm.userPin, tpm.env),
        checkGone: (ref) => assertTokenKeyGone(ref, tpm.module, tpm.userPin, tpm.env),
      }));
    });

    test('no authorisation failed so far (the PIN reached the TPM intact every time)', async () => {
      assert.equal((await lockoutState(tpm)).counter, 0);
    });

    test('a missing tpm2-pkcs11 store → token_not_found', async () => {
      await assert.rejects(
        createDeviceKey({ ...opts, tpm2PkcsStore: join(dir, 'no-store') }, 'x'),
        assertKeyError('token_not_found'),
      );
    });

    // The provider tests closed their key: the token is logged out, so the PIN is really checked.
    // Lockout after one failure, so one wrong PIN shows both: one attempt only, and tpm_locked.
    test('a wrong PIN → wrong_pin after exactly one attempt; then the locked TPM → tpm_locked', async () => {
      assert.ok(state.ref);
      await runOk(
        requireTool('tpm2_dictionarylockout'),
        [
          '--setup-parameters',
          '--max-tries=1',
          '--recovery-time=600',
          '--lockout-recovery-time=600',
          '--clear-lockout',
        ],
        { env: tpm.env },
      );
      assert.deepEqual(await lockoutState(tpm), { counter: 0, inLockout: false });
      const wrong = join(dir, 'wrong.pin');
      await writeFile(wrong, '999999\n', { mode: 0o600 });
      await assert.rejects(
        loadDeviceKey({ ...opts, pkcs11PinFile: wrong }, state.ref),
        assertKeyError('wrong_pin'),
      );
      assert.deepEqual(
        await lockoutState(tpm),
        { counter: 1, inLockout: true },
        'the PIN was tried exactly once',
      );
      await assert.rejects(loadDeviceKey(opts, state.ref), assertKeyError('tpm_locked'));
    });
  },
);
