// Summaries of V8 .cpuprofile files (node --cpu-prof): self and inclusive time per function.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const keyOf = (cf) => {
  const file = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|dist|bench)\//, '$1/');
  return `${cf.functionName || '(anonymous)'} ${file}:${cf.lineNumber + 1}`;
};

/** The request handler of Gatehouse's edge and of the bare proxy. */
export const EDGE_HANDLER = { name: 'handle', url: /edge\/server\.[jt]s$|bare-proxy\.mjs$/ };

// Start-up (module loading) is not what we are after.
const STARTUP = /^(Module\._load|run node:internal\/modules\/esm\/module_job|evaluate :)/;

/**
 * The .cpuprofile files in dir of processes that ran a function named `handler.name` from a file matching
 * `handler.url` (the request handler: leaves idle primaries out), merged: [{ fn, selfPct, totalPct }] sorted by inclusive
 * time, where inclusive counts a sample once per function on its stack (recursion is not
 * double-counted). Idle and start-up samples are left out.
 */
export function summarizeProfiles(dir, handler = EDGE_HANDLER) {
  const self = new Map();
  const total = new Map();
  let samples = 0;
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const prof = JSON.parse(readFileSync(join(dir, name), 'utf8'));
    if (
      !prof.nodes.some((n) => n.callFrame.functionName === handler.name && handler.url.test(n.callFrame.url))
    )
      continue;
    const byId = new Map(prof.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const stackKeys = new Map(); // node id -> unique function keys from the root to it
    const keysFor = (id) => {
      let keys = stackKeys.get(id);
      if (keys) return keys;
      const p = parent.get(id);
      keys = new Set(p === undefined ? [] : keysFor(p));
      keys.add(keyOf(byId.get(id).callFrame));
      stackKeys.set(id, keys);
      return keys;
    };
    for (const id of prof.samples) {
      const k = keyOf(byId.get(id).callFrame);
      if (k.startsWith('(idle)')) continue;
      const keys = keysFor(id);
      if ([...keys].some((key) => STARTUP.test(key))) continue;
      samples++;
      self.set(k, (self.get(k) ?? 0) + 1);
      for (const key of keys) total.set(key, (total.get(key) ?? 0) + 1);
    }
  }
  return [...total.entries()]
    .map(([fn, t]) => ({ fn, selfPct: ((self.get(fn) ?? 0) / samples) * 100, totalPct: (t / samples) * 100 }))
    .sort((a, b) => b.totalPct - a.totalPct);
}
