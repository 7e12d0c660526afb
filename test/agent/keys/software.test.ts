import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createDeviceKey, loadDeviceKey, type KeyProviderOptions } from '../../../src/agent/keys/index.js';
import { skipUnlessTools } from '../../helpers/tools.js';
import { assertKeyError, providerTests } from './provider-suite.js';

describe('software device keys', { skip: skipUnlessTools('openssl') }, () => {
  let dir: string;
  let opts: KeyProviderOptions;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-keys-sw-'));
    opts = { provider: 'software', stateDir: join(dir, 'state'), insecureSoftwareKey: true };
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const state = providerTests(() => ({
    opts,
    env: {},
    dir,
    checkProtection: async (key) => {
      assert.equal(key.reference.provider, 'software');
      if (key.reference.provider !== 'software') return;
      const file = join(opts.stateDir, key.reference.file);
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.match(await readFile(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
      assert.equal((await stat(opts.stateDir)).mode & 0o777, 0o700);
    },
    checkGone: async (ref) => {
      assert.equal(ref.provider, 'software');
      if (ref.provider !== 'software') return;
      await assert.rejects(stat(join(opts.stateDir, ref.file)), { code: 'ENOENT' });
    },
  }));

  test('software keys need the explicit flag → insecure_key_refused', async () => {
    const plain = { provider: 'software' as const, stateDir: join(dir, 'refused') };
    await assert.rejects(createDeviceKey(plain, 'x'), assertKeyError('insecure_key_refused'));
    assert.ok(state.ref);
    await assert.rejects(
      loadDeviceKey({ ...plain, stateDir: opts.stateDir }, state.ref),
      assertKeyError('insecure_key_refused'),
    );
    await assert.rejects(readdir(plain.stateDir), { code: 'ENOENT' }, 'nothing was written');
  });

  test('a key file readable by others is refused', async () => {
    assert.ok(state.ref?.provider === 'software');
    const file = join(opts.stateDir, state.ref.file);
    await chmod(file, 0o644);
    try {
      await assert.rejects(loadDeviceKey(opts, state.ref), assertKeyError('insecure_key_permissions'));
    } finally {
      await chmod(file, 0o600);
    }
    const key = await loadDeviceKey(opts, state.ref);
    assert.equal(key.publicKeyPem, state.publicKeyPem);
    await key.close();
  });

  test('the reference must match the provider', async () => {
    assert.ok(state.ref);
    await assert.rejects(
      loadDeviceKey({ provider: 'pkcs11', stateDir: opts.stateDir }, state.ref),
      assertKeyError('provider_mismatch'),
    );
  });
});
