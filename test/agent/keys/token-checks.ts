// pkcs11-tool (OpenSC) as an independent look into a token: which attributes the key really has.

import assert from 'node:assert/strict';
import type { DeviceKey } from '../../../src/agent/keys/index.js';
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
  const tool = requireTool('pkcs11-tool');
  const ref = key.reference;
  assert.ok(ref.provider !== 'software');
  const r = await runOk(
    tool,
    [
      '--module',
      module,
      '--token-label',
      ref.token,
      '--login',
      '--pin',
      'env:GATEHOUSE_TEST_PIN',
      '--list-objects',
      '--type',
      'privkey',
      '--id',
      ref.id,
    ],
    { env: { ...env, GATEHOUSE_TEST_PIN: userPin } },
  );
  const objects = r.stdout.split(/\n(?=\S)/).filter((b) => b.startsWith('Private Key Object'));
  assert.equal(objects.length, 1, r.stdout);
  const obj = objects[0] as string;
  assert.match(obj, /EC/, obj);
  const access = /Access:\s*(.*)/.exec(obj)?.[1] ?? '';
  assert.match(access, /\bsensitive\b/, obj);
  assert.match(access, /never extractable/, obj);
  assert.doesNotMatch(access, /(^|, )extractable/, obj);
}
