// Throwaway PostgreSQL cluster for tests: one temp dir, loopback only, trust auth, fsync off.
// Used by scripts/test.mjs (one cluster per `npm test`) and re-exported by test/helpers/postgres.ts.
//
// As root, initdb/pg_ctl refuse to run, so they are run as the `postgres` system user (created by
// Debian's postgresql package) via spawn's uid/gid, in a temp dir owned by that user.

import { execFile, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { findPostgresBinDir, lookupUser } from './system-deps.mjs';

const PREFIX = 'gatehouse-pg-';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

// A dir the postgres user can reach: every ancestor must be traversable by "others".
function worldTraversable(dir) {
  let d = dir;
  for (;;) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    const parent = dirname(d);
    if (parent === d) return true;
    d = parent;
  }
}

function baseTmpDir(asOtherUser) {
  const t = tmpdir();
  return asOtherUser && !worldTraversable(t) ? '/tmp' : t;
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function run(cmd, args, { user, cwd, timeoutMs = 120_000 } = {}) {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        timeout: timeoutMs,
        uid: user?.uid,
        gid: user?.gid,
        env: { ...process.env, LC_ALL: 'C', LANG: 'C', PGTZ: 'UTC' },
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: stderr || (err && !stdout ? String(err.message) : '') });
      },
    );
  });
}

function runSync(cmd, args, { user, cwd, timeoutMs = 60_000 } = {}) {
  return spawnSync(cmd, args, { cwd, uid: user?.uid, gid: user?.gid, timeout: timeoutMs, stdio: 'ignore' });
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function killPostmaster(dataDir) {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // not running
  }
}

function stopDirSync(dir, binDir, user) {
  const dataDir = join(dir, 'data');
  if (existsSync(join(dataDir, 'postmaster.pid'))) {
    const r = runSync(join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop'], {
      user,
      cwd: dir,
    });
    if (r.status !== 0) killPostmaster(dataDir);
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Stop and delete clusters left behind by a harness that died (SIGKILL, machine reused by CI).
 * Only touches our own temp dirs whose owner process is gone.
 */
export function reapStaleClusters() {
  const binDir = findPostgresBinDir();
  if (!binDir) return;
  const isRoot = process.getuid?.() === 0;
  const user = isRoot ? lookupUser('postgres') : null;
  for (const base of new Set([tmpdir(), '/tmp'])) {
    let entries = [];
    try {
      entries = readdirSync(base).filter((e) => e.startsWith(PREFIX));
    } catch {
      continue;
    }
    for (const e of entries) {
      const dir = join(base, e);
      try {
        const owner = Number(readFileSync(join(dir, 'owner.pid'), 'utf8'));
        if (owner > 0 && pidAlive(owner)) continue;
        stopDirSync(dir, binDir, user ?? undefined);
      } catch {
        // not ours to clean (other user) or already gone
      }
    }
  }
}

/**
 * @typedef {{ url: string, adminUrl: string, port: number, dir: string, logFile: string,
 *   stop(): Promise<void>, stopSync(): void, pause(): Promise<void>, resume(): Promise<void> }} PostgresCluster
 */

/**
 * Start a throwaway cluster on 127.0.0.1 with a database `gatehouse_test`.
 * @param {{ database?: string, log?: (msg: string) => void }} [opts]
 * @returns {Promise<PostgresCluster>}
 */
export async function startPostgresCluster(opts = {}) {
  const database = opts.database ?? 'gatehouse_test';
  const log = opts.log ?? (() => {});
  const binDir = findPostgresBinDir();
  if (!binDir) {
    throw new Error(
      'PostgreSQL server binaries not found (apt-get install postgresql, or set GATEHOUSE_PG_BIN_DIR)',
    );
  }
  const isRoot = process.getuid?.() === 0;
  let user;
  if (isRoot) {
    user = lookupUser('postgres');
    if (!user) throw new Error('running as root but there is no `postgres` system user (install postgresql)');
  }

  const dir = mkdtempSync(join(baseTmpDir(isRoot), PREFIX));
  writeFileSync(join(dir, 'owner.pid'), String(process.pid));
  const dataDir = join(dir, 'data');
  const sockDir = join(dir, 'sock');
  const logFile = join(dir, 'postgres.log');
  mkdirSync(sockDir);
  if (user) {
    chownSync(dir, user.uid, user.gid);
    chownSync(sockDir, user.uid, user.gid);
  }

  let stopped = false;
  const stopSync = () => {
    if (stopped) return;
    stopped = true;
    stopDirSync(dir, binDir, user);
  };

  try {
    const init = await run(
      join(binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { user, cwd: dir },
    );
    if (init.code !== 0)
      throw new Error(`initdb failed (exit ${init.code}):\n${init.stdout}\n${init.stderr}`);

    // Loopback only, trust auth. Written as root into files owned by postgres: ownership is kept.
    writeFileSync(
      join(dataDir, 'pg_hba.conf'),
      'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n',
    );
    const baseConf = readFileSync(join(dataDir, 'postgresql.conf'), 'utf8');

    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      writeFileSync(
        join(dataDir, 'postgresql.conf'),
        `${baseConf}\n# gatehouse test harness\n` +
          `listen_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = '${sockDir}'\n` +
          'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n' +
          "timezone = 'UTC'\nlog_timezone = 'UTC'\nlogging_collector = off\n",
      );
      const start = await run(
        join(binDir, 'pg_ctl'),
        ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-s', 'start'],
        { user, cwd: dir },
      );
      if (start.code === 0) break;
      const logText = tail(logFile);
      // Port taken between freePort() and bind: try another one.
      if (attempt < 3 && /could not (bind|create listen)/i.test(logText)) continue;
      throw new Error(
        `pg_ctl start failed (exit ${start.code}): ${start.stderr}\n--- ${logFile} ---\n${logText}`,
      );
    }
    log(`[postgres] cluster up on 127.0.0.1:${port} (${dir})`);

    const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const client = new pg.Client({ connectionString: adminUrl });
      try {
        await client.connect();
        await client.query(`CREATE DATABASE "${database}"`);
        await client.end();
        break;
      } catch (err) {
        await client.end().catch(() => {});
        if (Date.now() > deadline) throw new Error(`cannot use PostgreSQL on port ${port}: ${err.message}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }

    return {
      url: `postgres://postgres@127.0.0.1:${port}/${database}`,
      adminUrl,
      port,
      dir,
      logFile,
      stopSync,
      async stop() {
        stopSync();
      },
      // Outage tests: stop the server and start it again on the same port. A fast (clean) stop:
      // with synchronous_commit off an immediate one would lose the last commits.
      async pause() {
        const r = await run(
          join(binDir, 'pg_ctl'),
          ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', '-s', 'stop'],
          {
            user,
            cwd: dir,
          },
        );
        if (r.code !== 0) throw new Error(`pg_ctl stop failed (exit ${r.code}): ${r.stderr}`);
      },
      async resume() {
        const r = await run(
          join(binDir, 'pg_ctl'),
          ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-s', 'start'],
          {
            user,
            cwd: dir,
          },
        );
        if (r.code !== 0)
          throw new Error(`pg_ctl start failed (exit ${r.code}): ${r.stderr}\n${tail(logFile)}`);
      },
    };
  } catch (err) {
    stopSync();
    throw err;
  }
}
