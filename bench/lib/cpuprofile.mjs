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

/**
 * Where the samples go, by category (docs/benchmarks.md, "where a proxied request's time goes").
 * A sample belongs to the first frame from the leaf up whose script is known: native frames
 * (no URL: a C++ binding such as the TLS socket's writev, OpenSSL's encryption inside it, the HTTP
 * parser's execute) count for the JS that called them.
 */
const CATEGORIES = [
  ['Gatehouse (dist/)', (u) => /\/dist\//.test(u) && !/node_modules/.test(u)],
  ['bare proxy (bench/servers)', (u) => /bench\/servers\//.test(u)],
  ['undici (client to the origin)', (u) => /node_modules\/undici\//.test(u)],
  ['other npm modules', (u) => /node_modules\//.test(u)],
  [
    'node:http (server: parser, IncomingMessage, ServerResponse)',
    (u) => /^node:(_http_|http$|internal\/http)/.test(u),
  ],
  [
    'TLS socket and streams (reads, writes, encryption)',
    (u) => /^node:(_tls_|tls$|net$|stream$|internal\/(stream_base_commons|streams\/|tls\/|net))/.test(u),
  ],
  [
    'events, timers, microtasks',
    (u) => /^node:(events$|internal\/(timers|process\/task_queues|async_hooks|event_target))/.test(u),
  ],
  ['other node: internals', (u) => /^node:/.test(u)],
];

export function categorizeProfiles(dir, handler = EDGE_HANDLER) {
  const counts = new Map();
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
    // Module loading at start-up (a worker's profile covers its whole life): any sample with a
    // module-loader frame on its stack.
    const startupMemo = new Map();
    const isStartup = (id) => {
      if (startupMemo.has(id)) return startupMemo.get(id);
      const n = byId.get(id);
      const p = parent.get(id);
      const own = STARTUP.test(keyOf(n.callFrame)) || /^node:internal\/modules\//.test(n.callFrame.url);
      const v = own || (p !== undefined && isStartup(p));
      startupMemo.set(id, v);
      return v;
    };
    const memo = new Map();
    const categoryOf = (id) => {
      if (memo.has(id)) return memo.get(id);
      const n = byId.get(id);
      const fn = n.callFrame.functionName;
      let cat;
      if (fn === '(garbage collector)') cat = 'garbage collector';
      else if (fn === '(program)') cat = '(program): V8/native outside any JS frame';
      else if (STARTUP.test(keyOf(n.callFrame))) cat = 'start-up';
      else {
        const url = n.callFrame.url;
        cat = url ? CATEGORIES.find(([, test]) => test(url))?.[0] : undefined;
        if (!cat) {
          const p = parent.get(id);
          cat = p === undefined ? 'unattributed native' : categoryOf(p);
        }
      }
      memo.set(id, cat);
      return cat;
    };
    for (const id of prof.samples) {
      const n = byId.get(id);
      if (n.callFrame.functionName === '(idle)') continue;
      if (isStartup(id)) continue;
      const cat = categoryOf(id);
      if (cat === 'start-up') continue;
      samples++;
      counts.set(cat, (counts.get(cat) ?? 0) + 1);
    }
  }
  return [...counts.entries()]
    .map(([category, n]) => ({ category, pct: (n / samples) * 100 }))
    .sort((a, b) => b.pct - a.pct);
}
