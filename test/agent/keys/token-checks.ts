// pkcs11-tool (OpenSC) as an independent look into a token: which attributes the key really has.

import assert from 'node:assert/strict';
import type { DeviceKey, KeyReference } from '../../../src/agent/keys/index.js';
import { requireTool, runOk } from '../../helpers/tools.js';

/**
 * Asserts, through `pkcs11-tool --list-objects`, that the device key's private half is in the
 * token, sensitive and never extractable. The PIN goes through the environment (`--pin env:…`).
 */
export async function assertTokenKeyProtected(
  key: DeviceKey,
  module: string,
  userPin: string,
  env: Record<string, string>,
): Promise<void> {
  const objects = (await tokenObjects(key.reference, module, userPin, env, 'privkey')).filter((b) =>
    b.startsWith('Private Key Object'),
  );
  assert.equal(objects.length, 1, objects.join('\n'));
  const obj = objects[0] as string;
  assert.match(obj, /EC/, obj);
  const access = /Access:\s*(.*)/.exec(obj)?.[1] ?? '';
  assert.match(access, /\bsensitive\b/, obj);
  assert.match(access, /never extractable/, obj);
  assert.doesNotMatch(access, /(^|, )extractable/, obj);
}

/** The objects (pkcs11-tool's blocks) the token holds under the reference's CKA_ID, logged in. */
export async function tokenObjects(
  ref: KeyReference,
  module: string,
  userPin: string,
  env: Record<string, string>,
  type?: 'privkey' | 'pubkey' | 'cert',
): Promise<string[]> {
  assert.ok(ref.provider !== 'software');
  const r = await runOk(
    requireTool('pkcs11-tool'),
    [
      '--module',
      module,
      '--token-label',
      ref.token,
      '--login',
      '--pin',
      'env:GATEHOUSE_TEST_PIN',
      '--list-objects',
      ...(type ? ['--type', type] : []),
      '--id',
      ref.id,
    ],
    { env: { ...env, GATEHOUSE_TEST_PIN: userPin } },
  );
  // pkcs11-tool applies --id only together with --type: filter on the ID line as well.
  return r.stdout
    .split(/\n(?=\S)/)
    .filter((b) => / Object;/.test(b) && new RegExp(`^\\s*ID:\\s*${ref.id}\\s*$`, 'm').test(b));
}

/** Asserts that the token holds no object (private, public key or other) under the reference's id. */
export async function assertTokenKeyGone(
  ref: KeyReference,
  module: string,
  userPin: string,
  env: Record<string, string>,
): Promise<void> {
  assert.deepEqual(
    await tokenObjects(ref, module, userPin, env),
    [],
    `objects with id ${ref.provider !== 'software' ? ref.id : ''} remain`,
  );
}
