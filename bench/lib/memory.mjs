// Memory of process trees, from /proc: RSS and PSS (proportional set size: a page shared by
// several processes, e.g. nginx's master and workers after fork, or the Node binary's pages in a
// primary and its cluster workers, is split between them, so sums over a tree count it once).

import { readFileSync } from 'node:fs';
import { processTree } from './cpu.mjs';

function kib(text, field) {
  return Number(text.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
}

/** { pid, name, rssKiB, pssKiB } of one process, or null if it is gone. */
export function processMemory(pid) {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    return { pid, name, rssKiB: kib(rollup, 'Rss'), pssKiB: kib(rollup, 'Pss') };
  } catch {
    return null;
  }
}

/**
 * Memory of rootPid's tree: { root, children: [...], rssKiB, pssKiB } (sums over the tree);
 * `children` are the root's direct children (nginx or edge workers).
 */
export function treeMemory(rootPid) {
  const pids = processTree(rootPid);
  const all = pids.map(processMemory).filter(Boolean);
  const root = all.find((p) => p.pid === rootPid) ?? null;
  const children = all.filter((p) => p.pid !== rootPid);
  const sum = (k) => all.reduce((n, p) => n + p[k], 0);
  return { root, children, rssKiB: sum('rssKiB'), pssKiB: sum('pssKiB') };
}

/** Sum of the root's children only (the edge workers of `gatehouse serve`, nginx's workers). */
export function workersMemory(rootPid) {
  const t = treeMemory(rootPid);
  const sum = (k) => t.children.reduce((n, p) => n + p[k], 0);
  return { rssKiB: sum('rssKiB'), pssKiB: sum('pssKiB'), count: t.children.length, tree: t };
}

export const mib = (kiB) => `${(kiB / 1024).toFixed(1)} MiB`;
