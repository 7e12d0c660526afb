// The agent's pieces that need no server: policy, timing, device facts, state files.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { backoff, isFatal, renewalTime } from '../../../src/agent/agent.js';
import { registrationPolicy } from '../../../src/agent/enroll.js';
import { cleanFact, collectFacts } from '../../../src/agent/facts.js';
import { writeFileAtomic } from '../../../src/agent/files.js';
import { loadState } from '../../../src/agent/state.js';
import { GatehouseError } from '../../../src/errors/index.js';
import { makeSelfSigned } from '../../helpers/openssl.js';
import { tempDir } from '../../helpers/tools.js';

describe('registration policy', () => {
  test('MDM and server requirement decide the mode; only a true requirement demands hardware', () => {
    const cases: [boolean | undefined, boolean | undefined, string, boolean][] = [
      [undefined, undefined, 'hardware_backed', false],
      [undefined, false, 'hardware_backed', false],
      [false, undefined, 'standard', false],
      [false, false, 'standard', false],
      [true, undefined, 'hardware_backed', true],
      [true, false, 'hardware_backed', true],
      [undefined, true, 'hardware_backed', true],
      [false, true, 'hardware_backed', true],
    ];
    for (const [mdm, server, mode, required] of cases) {
      const p = registrationPolicy(mdm, server);
      assert.equal(p.mode, mode, `mdm=${mdm} server=${server}`);
      assert.equal(p.hardwareRequired, required, `mdm=${mdm} server=${server}`);
    }
  });

  test('without a key provider the default is standard; a requirement stays hardware-backed', () => {
    const cases: [boolean | undefined, boolean | undefined, string][] = [
      [undefined, undefined, 'standard'],
      [undefined, false, 'standard'],
      [false, undefined, 'standard'],
      [true, undefined, 'hardware_backed'],
      [undefined, true, 'hardware_backed'],
    ];
    for (const [mdm, server, mode] of cases)
      assert.equal(registrationPolicy(mdm, server, false).mode, mode, `mdm=${mdm} server=${server}`);
  });
});

describe('timing', () => {
  test('backoff doubles from the base up to the cap, with jitter in the upper half', () => {
    for (let n = 1; n <= 12; n++) {
      const ceiling = Math.min(60_000, 500 * 2 ** (n - 1));
      for (let i = 0; i < 20; i++) {
        const ms = backoff(n, 500, 60_000);
        assert.ok(ms >= ceiling / 2 - 1 && ms <= ceiling + 1, `${n}: ${ms}`);
      }
    }
    assert.ok(backoff(1000, 500, 60_000) <= 60_000);
  });

  test('renewal falls between 1/3 and 1/4 of the lifetime before expiry, the same for one certificate', async (t) => {
    const dir = await tempDir(t);
    const { pem } = await makeSelfSigned(dir, 'c', { days: 90, subject: '/CN=t' });
    const x = new X509Certificate(pem);
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    const at = renewalTime(pem).getTime();
    assert.ok(
      at <= to - (to - from) / 3 && at >= to - (to - from) * (1 / 3 + 1 / 12),
      new Date(at).toISOString(),
    );
    assert.equal(renewalTime(pem).getTime(), at);
  });

  test('errors that must not be retried in a loop are fatal', () => {
    assert.equal(isFatal(new GatehouseError('wrong_pin', 'x')), true);
    assert.equal(isFatal(new GatehouseError('not_registered', 'x')), true);
    assert.equal(isFatal(new GatehouseError('server_unreachable', 'x')), false);
    assert.equal(isFatal(new Error('x')), false);
  });
});

describe('device facts', () => {
  test('placeholders firmware vendors leave in DMI are not serial numbers', () => {
    for (const junk of [
      '',
      '  ',
      'To Be Filled By O.E.M.',
      'Default string',
      '0',
      '00000000',
      'XXXXXXXX',
      'None',
      'System Serial Number',
      '\n',
    ])
      assert.equal(cleanFact(junk, 200), undefined, JSON.stringify(junk));
    assert.equal(cleanFact(' PF2ABCDE\n', 200), 'PF2ABCDE');
    assert.equal(cleanFact('a\u0000b', 200), 'ab');
    assert.equal(cleanFact('x'.repeat(10) + 'y', 5), 'xxxxx');
  });

  test('DMI when readable; flags win', async (t) => {
    const dmi = await tempDir(t);
    writeFileSync(join(dmi, 'product_serial'), 'SN-12345\n');
    writeFileSync(join(dmi, 'product_name'), 'ThinkPad X1\n');
    const facts = collectFacts({ dmiDir: dmi });
    assert.equal(facts.serial_number, 'SN-12345');
    assert.equal(facts.model, 'ThinkPad X1');
    assert.equal(facts.os, process.platform);
    assert.ok(facts.name.length > 0);
    assert.equal(collectFacts({ dmiDir: dmi, serialNumber: 'FLAG-1', name: 'n' }).serial_number, 'FLAG-1');
    assert.equal(collectFacts({ dmiDir: dmi, name: 'laptop' }).name, 'laptop');
    const none = collectFacts({ dmiDir: join(dmi, 'absent') });
    assert.equal(none.serial_number, undefined);
    assert.equal(none.model, undefined);
  });
});

describe('state files', () => {
  test('atomic writes replace the file, leave no temp files and are 0600', async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'f');
    await writeFileAtomic(file, 'one');
    await writeFileAtomic(file, 'two');
    assert.equal(readFileSync(file, 'utf8'), 'two');
    assert.deepEqual(readdirSync(dir), ['f']);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  test('a state dir without state.json is not_registered; a broken one is state_invalid', async (t) => {
    const dir = await tempDir(t);
    assert.throws(() => loadState(dir), { code: 'not_registered' });
    writeFileSync(join(dir, 'state.json'), '{');
    assert.throws(() => loadState(dir), { code: 'state_invalid', message: /not JSON/ });
    writeFileSync(join(dir, 'state.json'), '{"version": 2}');
    assert.throws(() => loadState(dir), { code: 'state_invalid', message: /version/ });
    mkdirSync(join(dir, 'sub'));
    assert.throws(() => loadState(join(dir, 'sub')), { code: 'not_registered' });
  });
});
