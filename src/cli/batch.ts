import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import cliProgress from 'cli-progress';
import type { Authority } from '../authority/index.js';
import { GatehouseError } from '../errors/index.js';
import { generateKeyPair, type KeyAlgorithm } from '../pki/index.js';

export interface BatchOptions {
  authority: Authority;
  count: number;
  outDir: string;
  validityDays: number;
  algorithm: KeyAlgorithm;
  cnPrefix?: string;
  actor: string;
  /** Checked between pairs; set by the SIGINT handler so the pair in progress still completes. */
  shouldStop: () => boolean;
  progress: boolean;
}

export interface BatchSummary {
  requested: number;
  issued: number;
  interrupted: boolean;
  out_dir: string;
  seconds: number;
  certificates: { id: string; common_name: string; serial_number: string; dir: string }[];
}

const PARTIAL_PREFIX = '.partial-';

/**
 * Issues `count` key pairs and certificates for a fleet. Each pair is written into a hidden
 * `.partial-*` directory and renamed into place in one step, so an interrupted run leaves only
 * complete `<id>/{key.pem,cert.pem,chain.pem}` directories (stale partials are swept first).
 */
export async function issueBatch(opts: BatchOptions): Promise<BatchSummary> {
  if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 100_000) {
    throw new GatehouseError('invalid_argument', '--count must be an integer between 1 and 100000');
  }
  mkdirSync(opts.outDir, { recursive: true, mode: 0o700 });
  for (const entry of readdirSync(opts.outDir)) {
    if (entry.startsWith(PARTIAL_PREFIX)) rmSync(join(opts.outDir, entry), { recursive: true, force: true });
  }
  const chainPem = await opts.authority.orgCaChainPem();
  const started = Date.now();
  const bar = opts.progress
    ? new cliProgress.SingleBar(
        {
          format: 'issuing [{bar}] {value}/{total} {percentage}% | {rate}/s | eta {eta}s',
          stream: process.stderr,
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(opts.count, 0, { rate: '0.0' });
  const summary: BatchSummary = {
    requested: opts.count,
    issued: 0,
    interrupted: false,
    out_dir: opts.outDir,
    seconds: 0,
    certificates: [],
  };
  const width = String(opts.count).length;
  try {
    for (let i = 1; i <= opts.count; i++) {
      if (opts.shouldStop()) {
        summary.interrupted = true;
        break;
      }
      const keys = await generateKeyPair(opts.algorithm);
      const commonName = opts.cnPrefix ? `${opts.cnPrefix}-${String(i).padStart(width, '0')}` : undefined;
      const cert = await opts.authority.issueFromPublicKey(
        { publicKeyPem: keys.publicKeyPem, validityDays: opts.validityDays, commonName },
        opts.actor,
      );
      const partial = join(opts.outDir, `${PARTIAL_PREFIX}${cert.id}`);
      mkdirSync(partial, { mode: 0o700 });
      writeFileSync(join(partial, 'key.pem'), keys.privateKeyPem, { mode: 0o600 });
      writeFileSync(join(partial, 'cert.pem'), cert.certificate_pem);
      writeFileSync(join(partial, 'chain.pem'), chainPem);
      renameSync(partial, join(opts.outDir, cert.id));
      summary.issued++;
      summary.certificates.push({
        id: cert.id,
        common_name: cert.common_name,
        serial_number: cert.serial_number,
        dir: join(opts.outDir, cert.id),
      });
      bar?.update(i, { rate: (summary.issued / Math.max((Date.now() - started) / 1000, 0.001)).toFixed(1) });
    }
  } finally {
    bar?.stop();
    summary.seconds = (Date.now() - started) / 1000;
  }
  return summary;
}
