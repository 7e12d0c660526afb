// Device posture on the agent: find certificates where a rule says to look (the NSS database,
// PEM paths), run the pure check from src/posture on them, prove the private key by signing the
// server's nonce, and report. Certificate and key reading is the only I/O here; deciding is not.
import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, platform as osPlatform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatehouseError } from '../errors/index.js';
import { parsePemBlocks, toPem } from '../pki/index.js';
import {
  type CertificateSummary,
  certificateBlocks,
  checkOf,
  type DevicePostureRule,
  evaluateCertificates,
  type FoundCertificate,
  locationsOf,
  type PostureReason,
  type PostureResultInput,
  platformOf,
  signKeyProof,
  type TrustStore,
} from '../posture/index.js';

/** The system trust store on Linux. */
export const DEFAULT_NSSDB = '/etc/pki/nssdb';
/** The user trust store on Linux: the NSS database of the user running the agent. */
export const defaultUserNssdb = () => join(homedir(), '.pki', 'nssdb');

export interface PostureOptions {
  /** The system trust store: an NSS database directory (default /etc/pki/nssdb; absent: skipped). */
  nssdb?: string;
  /** The user trust store (default ~/.pki/nssdb; absent: skipped). */
  userNssdb?: string;
  /** File holding the NSS databases' password, when they have one. */
  nssdbPasswordFile?: string;
  /** For `${serial_number}` in CN templates: the registration's (what the server judges by). */
  serialNumber?: string;
  /** For `${hostname}`: the registration's. */
  hostname?: string;
}

/** One rule's outcome, as printed by `gatehouse device posture --json`. */
export interface RuleOutcome {
  rule_id: string;
  rule_name: string;
  success: boolean;
  reasons: PostureReason[];
  certificate: CertificateSummary | null;
  /** Where the certificate considered was found. */
  source: string | null;
  /** Why it failed, for people. */
  details: string[];
}

/** A certificate found, with its private key when the device has it (kept in memory only). */
interface Found extends FoundCertificate {
  privateKey?: KeyObject;
}

function runTool(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { encoding: 'utf8', timeout: 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          reject(
            new GatehouseError(
              err.code === 'ENOENT' ? 'nss_tools_missing' : 'nss_failed',
              err.code === 'ENOENT'
                ? `${cmd} is not installed (Debian/Ubuntu: apt-get install libnss3-tools)`
                : `${cmd} failed: ${err.message}`,
            ),
          );
          return;
        }
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

const isCa = (pem: string) => new X509Certificate(pem).ca;
const spkiOf = (key: KeyObject) => createPublicKey(key).export({ type: 'spki', format: 'der' });
const certificatesIn = certificateBlocks;
const keysIn = (text: string): KeyObject[] =>
  parsePemBlocks(text)
    .filter((b) => /PRIVATE KEY$/.test(b.label) && b.label !== 'ENCRYPTED PRIVATE KEY')
    .flatMap((b) => {
      try {
        return [createPrivateKey(toPem(b.der, b.label))];
      } catch {
        return [];
      }
    });

/** `certutil -L` lines: the nickname, then the trust flags (`u,u,u` marks a user certificate: it has a key). */
export function parseCertutilList(text: string): { nickname: string; trust: string }[] {
  const out: { nickname: string; trust: string }[] = [];
  for (const line of text.split('\n')) {
    const m = /^(.+?)\s+([A-Za-z]*,[A-Za-z]*,[A-Za-z]*)\s*$/.exec(line);
    if (m && m[1] !== 'Certificate Nickname') out.push({ nickname: m[1] as string, trust: m[2] as string });
  }
  return out;
}

/**
 * Every certificate in an NSS database, with the private keys of the user certificates
 * (exported with pk12util into a private temporary file and read back with openssl, then deleted).
 */
async function readNssDatabase(dir: string, store: TrustStore, passwordFile?: string): Promise<Found[]> {
  if (!existsSync(dir)) return [];
  const db = `sql:${dir}`;
  const listed = await runTool('certutil', ['-L', '-d', db]);
  if (listed.code !== 0)
    throw new GatehouseError('nss_failed', `certutil -L -d ${db} failed: ${listed.stderr.trim()}`);
  const entries: { pem: string; nickname: string; user: boolean }[] = [];
  for (const { nickname, trust } of parseCertutilList(listed.stdout)) {
    const shown = await runTool('certutil', ['-L', '-d', db, '-n', nickname, '-a']);
    if (shown.code !== 0) continue;
    for (const pem of certificatesIn(shown.stdout))
      entries.push({ pem, nickname, user: trust.includes('u') });
  }
  const cas = entries.filter((e) => isCa(e.pem)).map((e) => e.pem);
  const found: Found[] = [];
  const work = await mkdtemp(join(tmpdir(), 'gatehouse-nss-'));
  try {
    for (const entry of entries.filter((e) => !isCa(e.pem))) {
      const key = entry.user ? await exportNssKey(db, entry.nickname, work, passwordFile) : undefined;
      const cert = new X509Certificate(entry.pem);
      // Several certificates may share a nickname: only the key that belongs to this one counts.
      const own =
        key && Buffer.from(spkiOf(key)).equals(cert.publicKey.export({ type: 'spki', format: 'der' }));
      found.push({
        source: `nssdb:${dir}:${entry.nickname}`,
        location: { trust_store: store },
        pem: entry.pem,
        intermediates: cas,
        key: own ? { kind: 'present', spkiDer: spkiOf(key) } : { kind: 'absent' },
        ...(own ? { privateKey: key } : {}),
      });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return found;
}

async function exportNssKey(
  db: string,
  nickname: string,
  work: string,
  passwordFile?: string,
): Promise<KeyObject | undefined> {
  const p12 = join(work, 'export.p12');
  const pass = join(work, 'p12pass');
  await writeFile(pass, 'gatehouse-transient\n', { mode: 0o600 });
  try {
    const exported = await runTool('pk12util', [
      '-o',
      p12,
      '-n',
      nickname,
      '-d',
      db,
      '-w',
      pass,
      ...(passwordFile ? ['-k', passwordFile] : []),
    ]);
    if (exported.code !== 0) return undefined; // no private key for this nickname
    const pem = await runTool('openssl', [
      'pkcs12',
      '-in',
      p12,
      '-nocerts',
      '-nodes',
      '-passin',
      `file:${pass}`,
    ]);
    if (pem.code !== 0) return undefined;
    return keysIn(pem.stdout)[0];
  } finally {
    await rm(p12, { force: true });
  }
}

/** Rule paths that are not absolute POSIX paths (Windows) are for other platforms. */
const isPosixPath = (p: string) => p.startsWith('/');

/**
 * The custom paths: PEM files holding certificates and/or keys, the key in the same file or in
 * another listed file. Non-CA certificates are the candidates; the CA certificates found with them
 * are their intermediates. A key is the certificate's only when its public key matches.
 */
function readPemPaths(paths: readonly string[]): Found[] {
  const certs: { pem: string; source: string }[] = [];
  const keys: KeyObject[] = [];
  const read = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined; // absent or unreadable: nothing found there
    }
  };
  const seen = new Set<string>();
  const files = paths.filter(isPosixPath);
  for (const file of files) {
    if (seen.has(file)) continue;
    seen.add(file);
    const text = read(file);
    if (text === undefined) continue;
    try {
      for (const pem of certificatesIn(text)) certs.push({ pem, source: file });
      keys.push(...keysIn(text));
    } catch {
      // not PEM: nothing found in it
    }
  }
  const cas = certs.filter((c) => isCa(c.pem)).map((c) => c.pem);
  return certs
    .filter((c) => !isCa(c.pem))
    .map((c) => {
      const spki = new X509Certificate(c.pem).publicKey.export({ type: 'spki', format: 'der' });
      const own = keys.find((k) => Buffer.from(spkiOf(k)).equals(spki));
      const any = own ?? keys[0];
      return {
        source: c.source,
        location: { path: c.source },
        pem: c.pem,
        intermediates: cas,
        key: any ? { kind: 'present' as const, spkiDer: spkiOf(any) } : { kind: 'absent' as const },
        ...(own ? { privateKey: own } : {}),
      };
    });
}

/**
 * Only where the rule tells this platform to look (the server accepts a pass from nowhere else):
 * its paths and trust stores; without either (and for the older rule type) the system store.
 */
async function findCertificates(rule: DevicePostureRule, opts: PostureOptions): Promise<Found[]> {
  const { paths, trustStores } = locationsOf(rule);
  const databases: Record<TrustStore, string> = {
    system: opts.nssdb ?? DEFAULT_NSSDB,
    user: opts.userNssdb ?? defaultUserNssdb(),
  };
  const found: Found[] = [];
  for (const store of trustStores)
    found.push(...(await readNssDatabase(databases[store], store, opts.nssdbPasswordFile)));
  return [...found, ...readPemPaths(paths)];
}

export interface Evaluated {
  outcome: RuleOutcome;
  /** What to send for this rule (the key proof is added once the nonce is known). */
  report: PostureResultInput;
  /** The key that signs the nonce, when the rule checks the key and the certificate passed. */
  privateKey?: KeyObject;
}

/** Evaluates one rule on this machine now. */
export async function evaluateRule(
  rule: DevicePostureRule,
  opts: PostureOptions,
  now = new Date(),
): Promise<Evaluated> {
  const here = platformOf(osPlatform());
  const ruleOs = 'operating_system' in rule.input ? rule.input.operating_system : here;
  if (ruleOs !== here) {
    const outcome: RuleOutcome = {
      rule_id: rule.id,
      rule_name: rule.name,
      success: false,
      reasons: ['unsupported_platform'],
      certificate: null,
      source: null,
      details: [`the rule is for ${ruleOs}; this agent runs on ${here ?? osPlatform()}`],
    };
    return { outcome, report: { rule_id: rule.id, success: false, reasons: outcome.reasons } };
  }
  const found = await findCertificates(rule, opts);
  const evaluation = evaluateCertificates(found, checkOf(rule, certificatesIn(rule.ca_certificates)), {
    serialNumber: opts.serialNumber,
    hostname: opts.hostname,
    now,
  });
  const considered = evaluation.considered;
  const chosen = considered ? (considered.found as Found) : undefined;
  const outcome: RuleOutcome = {
    rule_id: rule.id,
    rule_name: rule.name,
    success: evaluation.success,
    reasons: evaluation.reasons,
    certificate: considered?.certificate ?? null,
    source: chosen?.source ?? null,
    details: evaluation.details,
  };
  const report: PostureResultInput = {
    rule_id: rule.id,
    success: evaluation.success,
    reasons: evaluation.reasons,
    ...(chosen
      ? {
          certificate: {
            pem: chosen.pem,
            ...(chosen.intermediates.length > 0 ? { intermediates: chosen.intermediates.join('') } : {}),
            ...(chosen.location ? { location: chosen.location } : {}),
          },
        }
      : {}),
  };
  const checksKey = checkOf(rule, []).checkPrivateKey;
  return { outcome, report, ...(checksKey && chosen?.privateKey ? { privateKey: chosen.privateKey } : {}) };
}

/** Adds the key proofs (all over one nonce) to the reports that need one. */
export function withKeyProofs(evaluated: Evaluated[], nonce: string): PostureResultInput[] {
  return evaluated.map(({ report, privateKey }) =>
    privateKey && report.certificate
      ? {
          ...report,
          key_proof: {
            nonce,
            signature: signKeyProof(
              privateKey,
              nonce,
              new X509Certificate(report.certificate.pem).fingerprint256.replace(/:/g, '').toLowerCase(),
            ),
          },
        }
      : report,
  );
}

interface SelfWithPosture {
  device: { serial_number?: string | null; hostname?: string | null };
  posture_rules: DevicePostureRule[];
}

interface StoredResult {
  rule_id: string;
  success: boolean;
  reasons: PostureReason[];
}

/** A session on the registration: its state and a client that authenticates as it. */
export interface PostureSession {
  token: string;
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

/**
 * Evaluates the device's rules (all, or those `due` says) and reports the results. The outcome
 * printed is the server's verdict: it re-checks every reported pass, including the key proof.
 */
export async function evaluateAndReport(
  session: PostureSession,
  opts: PostureOptions,
  due: (rule: DevicePostureRule) => boolean = () => true,
): Promise<{ outcomes: RuleOutcome[]; rules: DevicePostureRule[] }> {
  const self = await session.call<SelfWithPosture>('GET', '/devices/self');
  // The registered facts: the server judges by them, whatever this machine says now.
  const serialNumber = self.device.serial_number ?? undefined;
  const hostname = self.device.hostname ?? undefined;
  const rules = self.posture_rules.filter(due);
  if (rules.length === 0) return { outcomes: [], rules: self.posture_rules };
  const evaluated: Evaluated[] = [];
  for (const rule of rules) {
    try {
      evaluated.push(await evaluateRule(rule, { ...opts, serialNumber, hostname }));
    } catch (err) {
      if (err instanceof GatehouseError && err.code === 'nss_tools_missing') throw err;
      const detail = (err as Error).message;
      evaluated.push({
        outcome: {
          rule_id: rule.id,
          rule_name: rule.name,
          success: false,
          reasons: ['evaluation_error'],
          certificate: null,
          source: null,
          details: [detail],
        },
        report: { rule_id: rule.id, success: false, reasons: ['evaluation_error'] },
      });
    }
  }
  const nonce = evaluated.some((e) => e.privateKey)
    ? (await session.call<{ nonce: string }>('POST', '/devices/self/posture/nonce')).nonce
    : undefined;
  const results = nonce ? withKeyProofs(evaluated, nonce) : evaluated.map((e) => e.report);
  const stored = await session.call<StoredResult[]>('POST', '/devices/self/posture', { results });
  const verdicts = new Map(stored.map((s) => [s.rule_id, s]));
  const outcomes = evaluated.map(({ outcome }) => {
    const verdict = verdicts.get(outcome.rule_id);
    return verdict ? { ...outcome, success: verdict.success, reasons: verdict.reasons } : outcome;
  });
  return { outcomes, rules: self.posture_rules };
}

/** The schedule of `device run`: each rule again when its `schedule` has passed since it last ran. */
export class PostureSchedule {
  readonly #lastRun = new Map<string, number>();
  #schedules = new Map<string, number>();

  due(rule: DevicePostureRule, now: number): boolean {
    const last = this.#lastRun.get(rule.id);
    return last === undefined || now - last >= scheduleMs(rule);
  }

  ran(rules: DevicePostureRule[], evaluated: readonly string[], now: number): void {
    for (const id of evaluated) this.#lastRun.set(id, now);
    this.#schedules = new Map(rules.map((r) => [r.id, scheduleMs(r)]));
  }

  /** Milliseconds until the next rule is due (undefined: no rules). */
  nextDueIn(now: number): number | undefined {
    let next: number | undefined;
    for (const [id, every] of this.#schedules) {
      const wait = Math.max(0, (this.#lastRun.get(id) ?? now) + every - now);
      next = next === undefined ? wait : Math.min(next, wait);
    }
    return next;
  }
}

/** At least a second, whatever the server sent. */
const scheduleMs = (rule: DevicePostureRule) => Math.max(1000, (rule.schedule_seconds || 300) * 1000);
