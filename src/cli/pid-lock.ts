import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatehouseError } from '../errors/index.js';

export const SERVE_LOCK_FILE = 'serve.pid';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user — still a holder.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * One `serve` per SQLite data dir: SQLite has a single writer, and a second server would only
 * fail its writes with SQLITE_BUSY later. The file is created exclusively (no two starters both
 * win); one left by a process that died (kill -9) is taken over. Returns the release function.
 */
export function acquireServeLock(dataDir: string): () => void {
  const file = join(dataDir, SERVE_LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        // Only our own file: never remove a lock another process took over.
        if (readPid(file) === process.pid) rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readPid(file);
    if (holder !== null && holder !== process.pid && alive(holder)) {
      throw new GatehouseError(
        'data_dir_in_use',
        `${dataDir} is already served by process ${holder} (${file}); SQLite allows one server per data directory — use PostgreSQL (GATEHOUSE_DATABASE_URL) to run several nodes`,
      );
    }
    rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new GatehouseError('data_dir_in_use', `cannot take ${file}: another server keeps creating it`);
}

function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
