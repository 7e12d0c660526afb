// One SQLite data dir, one server; a data dir pointed at another organization's database refuses.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gatehouse, startServer } from '../helpers/gatehouse.js';

test('a second serve on one SQLite data dir is refused with the holder PID; a killed holder’s lock is taken over', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-datadir-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { GATEHOUSE_DATABASE_URL: '' };
  const init = await gatehouse(['init', '--data-dir', dir, '--org', 'Lock Org', '--json'], { env });
  assert.equal(init.code, 0, init.stderr);
  // A serve expected to refuse at start (it would otherwise keep running).
  const serveOnce = () =>
    gatehouse(
      ['serve', '--data-dir', dir, ...['--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0']],
      {
        env,
      },
    );

  const first = await startServer(['--data-dir', dir], { env });
  try {
    const second = await serveOnce();
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, new RegExp(`already served by process ${first.process.pid}\\b`));
    // kill -9: the lock file stays, its process is gone, and the next serve takes it over.
    first.process.kill('SIGKILL');
    await new Promise((r) => first.process.once('exit', r));
    assert.equal(readFileSync(join(dir, 'serve.pid'), 'utf8').trim(), String(first.process.pid));
    const again = await startServer(['--data-dir', dir], { env });
    assert.equal(await again.stop(), 0);
  } finally {
    if (first.process.exitCode === null && first.process.signalCode === null) await first.stop();
  }

  // gatehouse.json naming another organization than the database holds: refused at start.
  const config = JSON.parse(readFileSync(join(dir, 'gatehouse.json'), 'utf8')) as { org_id: string };
  writeFileSync(
    join(dir, 'gatehouse.json'),
    JSON.stringify({ ...config, org_id: '11111111-1111-4111-8111-111111111111' }),
  );
  const refused = await serveOnce();
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /org_mismatch|belongs to organization 11111111/);
});
