// The device agent's operations behind `gatehouse device register|status|renew|run|unregister`.
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { DeviceAssuranceLevel } from '../devices/attestation/index.js';
import { GatehouseError } from '../errors/index.js';
import type { Logger } from '../observability/index.js';
import { renewalTime as certificateRenewalTime } from '../pki/index.js';
import {
  certificateFile,
  checkOrganization,
  type DeviceAuthorization,
  deviceClient,
  enrol,
  mdmHardwareBacked,
  readCaFile,
  refuseSoftwareKey,
  registrationPolicy,
} from './enroll.js';
import { ensurePrivateDir } from './files.js';
import { isServerError, isTransient, normalizeServerUrl, type ServerClient } from './http.js';
import {
  type DeviceKey,
  destroyKey,
  discardEngineConfig,
  discardKey,
  type KeyDisposal,
  type KeyProtection,
  loadDeviceKey,
  prepareKeyProcess,
} from './key-provider.js';
import { DEFAULT_MDM_FILE, mdmForOrg, readMdmFile } from './mdm.js';
import {
  evaluateAndReport,
  type PostureOptions,
  PostureSchedule,
  type PostureSession,
  type RuleOutcome,
} from './posture.js';
import {
  type AgentState,
  type EnrolmentSource,
  isRegistered,
  leafCertificate,
  type LoadedState,
  loadState,
  type ProviderSettings,
  providerOptions,
  type RegistrationMode,
  removeDirIfEmpty,
  removeRegistrationFiles,
  saveCertificate,
  saveStateFile,
} from './state.js';

export const defaultMdmFile = () => process.env.GATEHOUSE_MDM_FILE || DEFAULT_MDM_FILE;

export interface RegisterOptions {
  stateDir: string;
  server?: string;
  org?: string;
  /** Absent: no key (standard registration only, e.g. MDM hardware_backed_registration false). */
  keyProvider?: KeyProtection;
  tpmTcti?: string;
  tpm2Pkcs11Store?: string;
  pkcs11Module?: string;
  pkcs11Token?: string;
  pkcs11PinFile?: string;
  serviceTokenId?: string;
  serviceTokenSecretFile?: string;
  /** Register by a person signing in through the organization's identity provider (no service token). */
  identity?: boolean;
  /** Shows that person where to sign in and the code (identity registration). */
  onDeviceLogin?: (login: DeviceAuthorization) => void;
  /** An explicit MDM file (must exist); else the default one is used when present. */
  mdm?: string;
  caFile?: string;
  insecureSoftwareKey?: boolean;
  /** tpm2: prove the key lives in the TPM (TPM attestation, docs/devices.md). */
  attest?: boolean;
  serialNumber?: string;
  name?: string;
}

/** `register`: flags, then the MDM file, then the server; state only once the server said yes. */
export async function register(opts: RegisterOptions): Promise<LoadedState> {
  const dir = resolve(opts.stateDir);
  if (isRegistered(dir))
    throw new GatehouseError(
      'already_registered',
      `${dir} already holds a registration: run \`gatehouse device unregister --state-dir ${opts.stateDir}\` first`,
      409,
    );
  const mdmFile = resolve(opts.mdm ?? defaultMdmFile());
  const doc = readMdmFile(mdmFile, { optional: opts.mdm === undefined });
  const mdm = doc ? mdmForOrg(doc, mdmFile, opts.org) : undefined;
  const org = opts.org ?? mdm?.org;
  if (!org) throw new GatehouseError('org_required', 'name the organization with --org (or in the MDM file)');
  const serverUrl = opts.server ?? mdm?.config?.serverUrl;
  if (!serverUrl)
    throw new GatehouseError(
      'server_required',
      'name the server with --server (or server_url in the MDM file)',
    );
  const caFile = opts.caFile ?? mdm?.config?.caFile;
  const caPem = caFile ? readCaFile(caFile) : null;
  if (caPem) checkOrganization(caPem, org, `the CA file ${caFile}`);

  if (Boolean(opts.serviceTokenId) !== Boolean(opts.serviceTokenSecretFile))
    throw new GatehouseError(
      'invalid_argument',
      '--service-token-id and --service-token-secret-file go together',
    );
  if (opts.identity && opts.serviceTokenId)
    throw new GatehouseError(
      'invalid_argument',
      '--identity registers by signing in as a user; it does not go with a service token',
    );
  if (opts.identity && !opts.onDeviceLogin)
    throw new GatehouseError('invalid_argument', 'an identity registration needs somewhere to show the code');
  const enrolment: EnrolmentSource = {};
  if (opts.identity) enrolment.identity = true;
  if (opts.serviceTokenId && opts.serviceTokenSecretFile) {
    enrolment.service_token_id = opts.serviceTokenId;
    enrolment.service_token_secret_file = resolve(opts.serviceTokenSecretFile);
  }
  if (doc) enrolment.mdm_file = mdmFile;

  const keyProvider = providerSettings(opts);
  const factOverrides: AgentState['fact_overrides'] = {};
  if (opts.name) factOverrides.name = opts.name;
  if (opts.serialNumber) factOverrides.serial_number = opts.serialNumber;

  const input = {
    dir,
    server_url: normalizeServerUrl(serverUrl),
    org,
    ca_file: caFile ? resolve(caFile) : null,
    ca_pem: caPem,
    key_provider: keyProvider,
    enrolment,
    fact_overrides: factOverrides,
    ...(opts.onDeviceLogin ? { showDeviceLogin: opts.onDeviceLogin } : {}),
  };
  const keyOptions = providerOptions(dir, keyProvider);
  await prepareKeyProcess(keyOptions);
  await ensurePrivateDir(dir).catch((err: unknown) => {
    throw new GatehouseError(
      'state_dir_unusable',
      `cannot use ${dir} as the state dir: ${(err as Error).message}`,
    );
  });
  try {
    return await enrol(input);
  } catch (err) {
    // Nothing of a failed first registration stays: not the engine config, not an empty dir.
    if (!isRegistered(dir)) {
      await discardEngineConfig(keyOptions);
      await removeDirIfEmpty(dir);
    }
    throw err;
  }
}

/** The key provider flags as state.json keeps them; null without --key-provider. */
function providerSettings(opts: RegisterOptions): ProviderSettings | null {
  if (!opts.keyProvider) {
    const stray = (
      [
        ['--tpm-tcti', opts.tpmTcti],
        ['--tpm2-pkcs11-store', opts.tpm2Pkcs11Store],
        ['--pkcs11-module', opts.pkcs11Module],
        ['--pkcs11-token', opts.pkcs11Token],
        ['--pkcs11-pin-file', opts.pkcs11PinFile],
        ['--insecure-software-key', opts.insecureSoftwareKey],
        ['--attest', opts.attest],
      ] as const
    ).find(([, v]) => v !== undefined && v !== false);
    if (stray) throw new GatehouseError('invalid_argument', `${stray[0]} goes with --key-provider`);
    return null;
  }
  const keyProvider: ProviderSettings = { provider: opts.keyProvider };
  if (opts.tpmTcti) keyProvider.tpm_tcti = opts.tpmTcti;
  if (opts.tpm2Pkcs11Store) keyProvider.tpm2_pkcs11_store = resolve(opts.tpm2Pkcs11Store);
  // A bare library name is looked up in the library dirs by the provider; a path is made absolute.
  if (opts.pkcs11Module)
    keyProvider.pkcs11_module = opts.pkcs11Module.includes('/')
      ? resolve(opts.pkcs11Module)
      : opts.pkcs11Module;
  if (opts.pkcs11Token) keyProvider.pkcs11_token = opts.pkcs11Token;
  if (opts.pkcs11PinFile) keyProvider.pkcs11_pin_file = resolve(opts.pkcs11PinFile);
  if (opts.insecureSoftwareKey) keyProvider.insecure_software_key = true;
  if (opts.attest) {
    if (opts.keyProvider !== 'tpm2')
      throw new GatehouseError('invalid_key_options', '--attest needs --key-provider tpm2');
    keyProvider.attest = true;
  }
  return keyProvider;
}

export interface Status {
  state_dir: string;
  server_url: string;
  org: string;
  registration_id: string;
  device_id: string;
  mode: RegistrationMode;
  assurance: DeviceAssuranceLevel | null;
  key_protection: KeyProtection;
  key_provider: KeyProtection | null;
  certificate_expires_on: string | null;
  certificate_renews_after: string | null;
  public_key_sha256: string | null;
  registered_at: string;
  last_successful_call: string | null;
}

/** When to renew the device certificate (see the PKI's `renewalTime`). */
export function renewalTime(certificatePem: string): Date {
  return certificateRenewalTime(leafCertificate(certificatePem));
}

/** `status`: what the state dir holds (no network). */
export function status(stateDir: string): Status {
  const { dir, state, certificatePem } = loadState(resolve(stateDir));
  const leaf = certificatePem ? leafCertificate(certificatePem) : undefined;
  return {
    state_dir: dir,
    server_url: state.server_url,
    org: state.org,
    registration_id: state.registration_id,
    device_id: state.device_id,
    mode: state.mode,
    assurance: state.assurance ?? null,
    key_protection: state.key_protection,
    key_provider: state.key_provider?.provider ?? null,
    certificate_expires_on: leaf ? new Date(leaf.validTo).toISOString() : null,
    certificate_renews_after: certificatePem ? renewalTime(certificatePem).toISOString() : null,
    public_key_sha256: leaf
      ? createHash('sha256')
          .update(leaf.publicKey.export({ type: 'spki', format: 'der' }))
          .digest('hex')
      : null,
    registered_at: state.registered_at,
    last_successful_call: state.last_successful_call,
  };
}

/**
 * For commands that use the registration's key (renew, run, unregister): token keys need the
 * process re-executed with the engine config, before anything else happens.
 */
export async function prepareStateDir(stateDir: string): Promise<void> {
  const { dir, state } = loadState(resolve(stateDir));
  await prepareKeyProcess(providerOptions(dir, state.key_provider));
}

/** An open registration: its key (hardware-backed) and a client that authenticates as it. */
interface Session {
  loaded: LoadedState;
  key?: DeviceKey;
  client: ServerClient;
  close(): Promise<void>;
}

async function openSession(loaded: LoadedState): Promise<Session> {
  const { state } = loaded;
  const key = state.key_reference
    ? await loadDeviceKey(providerOptions(loaded.dir, state.key_provider), state.key_reference)
    : undefined;
  try {
    const client = deviceClient(state.server_url, state.ca_pem, key, loaded.certificatePem);
    return {
      loaded,
      ...(key ? { key } : {}),
      client,
      close: async () => {
        await client.close();
        await key?.close();
      },
    };
  } catch (err) {
    await key?.close();
    throw err;
  }
}

async function withSession<T>(stateDir: string, work: (s: Session) => Promise<T>): Promise<T> {
  const session = await openSession(loadState(resolve(stateDir)));
  try {
    return await work(session);
  } finally {
    await session.close();
  }
}

async function recordSuccess(loaded: LoadedState): Promise<void> {
  loaded.state.last_successful_call = new Date().toISOString();
  await saveStateFile(loaded.dir, loaded.state);
}

async function renewIn(session: Session): Promise<string> {
  const { loaded, key, client } = session;
  if (loaded.state.mode !== 'hardware_backed' || !key)
    throw new GatehouseError(
      'not_hardware_backed',
      'a standard registration has no certificate to renew (only its token)',
    );
  const csr = await key.createCsr({ commonName: loaded.state.device_id.slice(0, 64) });
  const renewed = await client.call<{
    certificate: string;
    certificate_chain: string;
    certificate_expires_on: string;
  }>('POST', '/devices/self/renew', { bearer: loaded.token, body: { csr } });
  const certificatePem = certificateFile(renewed);
  if (!certificatePem) throw new GatehouseError('bad_response', 'the server renewed without a certificate');
  try {
    await saveCertificate(loaded.dir, certificatePem);
  } catch (err) {
    throw new GatehouseError(
      'state_write_failed',
      `the server renewed the certificate but it could not be saved in ${loaded.dir}: ${(err as Error).message}`,
      500,
    );
  }
  loaded.certificatePem = certificatePem;
  await recordSuccess(loaded);
  return renewed.certificate_expires_on;
}

function postureSession(s: Session): PostureSession {
  const { token } = s.loaded;
  return {
    token,
    call: (method, path, body) =>
      s.client.call(method, path, { bearer: token, ...(body === undefined ? {} : { body }) }),
  };
}

/** `posture`: evaluates every posture rule for this device now and reports the results. */
export async function posture(stateDir: string, opts: PostureOptions): Promise<RuleOutcome[]> {
  return withSession(stateDir, async (s) => (await evaluateAndReport(postureSession(s), opts)).outcomes);
}

/** `renew`: a new certificate for the same key, now. */
export async function renew(
  stateDir: string,
): Promise<{ registration_id: string; certificate_expires_on: string }> {
  return withSession(stateDir, async (session) => ({
    registration_id: session.loaded.state.registration_id,
    certificate_expires_on: await renewIn(session),
  }));
}

/**
 * `unregister`: the server first, then the local state and the key (deleted from the token, or its
 * file). `force` removes the local state even if the server cannot be told.
 */
export async function unregister(
  stateDir: string,
  { force = false }: { force?: boolean } = {},
): Promise<{ registration_id: string; server: 'unregistered' | 'already_ended' | 'not_told' } & KeyDisposal> {
  const loaded = loadState(resolve(stateDir));
  let server: 'unregistered' | 'already_ended' | 'not_told' = 'unregistered';
  try {
    await withSession(loaded.dir, (s) =>
      s.client.call('DELETE', '/devices/self', { bearer: s.loaded.token }),
    );
  } catch (err) {
    if (isServerError(err, 401) && ['registration_ended', 'invalid_token'].includes(err.code))
      server = 'already_ended';
    else if (force) server = 'not_told';
    else throw err;
  }
  await removeRegistrationFiles(loaded.dir);
  const keyOptions = providerOptions(loaded.dir, loaded.state.key_provider);
  const disposal = await discardKey(keyOptions, loaded.state.key_reference);
  await discardEngineConfig(keyOptions);
  await removeDirIfEmpty(loaded.dir);
  return { registration_id: loaded.state.registration_id, server, ...disposal };
}

/** 401 codes after which only a new registration helps. */
const GONE = new Set(['registration_ended', 'certificate_expired']);

export type CheckInResult =
  | { action: 'checked_in' | 'renewed'; registration_id: string; next_check_ms: number }
  | {
      action: 'reregistered';
      reason: string;
      previous_registration_id: string;
      registration_id: string;
      next_check_ms: number;
    };

interface SelfView {
  registration: { id: string; mode: RegistrationMode; status: string };
  settings: { require_hardware_backed_registration: boolean; device_certificate_validity: string };
}

/** Registers again with what the state recorded; the old registration is ended or unregistered. */
async function reRegister(
  session: Session,
  reason: string,
  serverRequires: boolean | undefined,
  logger: Logger,
): Promise<LoadedState> {
  const old = session.loaded;
  const { state } = old;
  const next = await enrol({
    ...state,
    dir: old.dir,
    previousToken: old.token,
    ...(serverRequires === undefined ? {} : { serverRequires }),
  });
  if (!GONE.has(reason)) {
    // The old registration still works (a mode change): end it, unless the server already
    // replaced it (same serial number), in which case the answer is registration_ended.
    try {
      await session.client.call('DELETE', '/devices/self', { bearer: old.token });
    } catch (err) {
      if (!isServerError(err, 401))
        logger.warn(
          { registration_id: state.registration_id, error: (err as Error).message },
          'the previous registration could not be unregistered',
        );
    }
  }
  // The old key signed for a registration that is over: delete it (it is open in this session).
  const disposal = session.key
    ? await destroyKey(session.key)
    : await discardKey(providerOptions(old.dir, state.key_provider), state.key_reference);
  if (disposal.key === 'kept')
    logger.warn(
      { registration_id: state.registration_id, error: disposal.reason },
      'the previous registration key could not be deleted',
    );
  return next;
}

/**
 * One check-in: GET /devices/self with the registration's credentials; registers again when the
 * registration is gone or its mode no longer fits; renews the certificate when it is due.
 */
export async function checkIn(stateDir: string, intervalMs: number, logger: Logger): Promise<CheckInResult> {
  return withSession(stateDir, async (session) => {
    const { loaded } = session;
    const { state } = loaded;
    const again = async (reason: string, serverRequires?: boolean): Promise<CheckInResult> => {
      const next = await reRegister(session, reason, serverRequires, logger);
      return {
        action: 'reregistered',
        reason,
        previous_registration_id: state.registration_id,
        registration_id: next.state.registration_id,
        next_check_ms: nextCheck(next, intervalMs),
      };
    };
    let self: SelfView;
    try {
      self = await session.client.call<SelfView>('GET', '/devices/self', { bearer: loaded.token });
    } catch (err) {
      if (isServerError(err, 401) && GONE.has(err.code)) return again(err.code);
      throw err;
    }
    await recordSuccess(loaded);
    const serverRequires = self.settings.require_hardware_backed_registration;
    const policy = registrationPolicy(
      mdmHardwareBacked(state.enrolment, state.org),
      serverRequires,
      state.key_provider !== null,
    );
    refuseSoftwareKey(policy, state.key_provider);
    if (policy.mode !== self.registration.mode) return again(`mode_${policy.mode}`, serverRequires);
    if (loaded.certificatePem && renewalTime(loaded.certificatePem).getTime() <= Date.now()) {
      await renewIn(session);
      return {
        action: 'renewed',
        registration_id: state.registration_id,
        next_check_ms: nextCheck(loaded, intervalMs),
      };
    }
    return {
      action: 'checked_in',
      registration_id: state.registration_id,
      next_check_ms: nextCheck(loaded, intervalMs),
    };
  });
}

/**
 * Until the next check: the interval (±10%), or sooner when the certificate is due for renewal,
 * but never sooner than a second (or the interval, if shorter): a certificate that is due again
 * right after its renewal (a lifetime shorter than the interval) must not spin the loop.
 */
function nextCheck(loaded: LoadedState, intervalMs: number): number {
  const regular = intervalMs * (0.9 + Math.random() * 0.2);
  const until = loaded.certificatePem ? renewalTime(loaded.certificatePem).getTime() - Date.now() : regular;
  return Math.round(Math.max(Math.min(regular, until), Math.min(regular, 1000)));
}

/** Errors that a retry cannot fix and that must not be retried (PINs: a TPM locks out). */
const FATAL = new Set([
  'not_registered',
  'state_invalid',
  'wrong_pin',
  'tpm_locked',
  'pin_unavailable',
  'insecure_key_permissions',
  'insecure_key_refused',
  'key_not_found',
  'provider_mismatch',
  'provider_unavailable',
  'invalid_key_options',
  'key_not_protected',
  'engine_unavailable',
]);

export const isFatal = (err: unknown) => err instanceof GatehouseError && FATAL.has(err.code);

/** Exponential backoff with jitter: base·2^(n-1), at most `cap`, between half and all of it. */
export function backoff(failures: number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/** Re-evaluates the rules whose schedule has come; returns when the next one is due. Never throws. */
async function postureDue(
  stateDir: string,
  opts: PostureOptions,
  schedule: PostureSchedule,
  logger: Logger,
): Promise<number | undefined> {
  const now = Date.now();
  try {
    const { outcomes, rules } = await withSession(stateDir, (s) =>
      evaluateAndReport(postureSession(s), opts, (rule) => schedule.due(rule, now)),
    );
    schedule.ran(
      rules,
      outcomes.map((o) => o.rule_id),
      now,
    );
    for (const o of outcomes)
      logger.info(
        {
          rule_id: o.rule_id,
          success: o.success,
          reasons: o.reasons,
          certificate: o.certificate?.fingerprint_sha256,
        },
        'posture evaluated',
      );
  } catch (err) {
    const e = err as { code?: string; message?: string };
    logger.error(
      { code: e.code ?? 'internal_error', error: e.message ?? String(err) },
      'posture evaluation failed',
    );
    return undefined; // retried with the next check-in, not in a tight loop
  }
  return schedule.nextDueIn(Date.now());
}

/**
 * The daemon: checks in every `intervalMs`, retries transient failures (offline, 5xx) with
 * exponential backoff, keeps going on other errors at the regular interval, and stops on fatal
 * ones (thrown) or when `signal` aborts (after the check-in under way).
 */
export async function runAgent(
  stateDir: string,
  {
    intervalMs,
    logger,
    signal,
    posture: postureOptions,
  }: { intervalMs: number; logger: Logger; signal: AbortSignal; posture?: PostureOptions },
): Promise<void> {
  let failures = 0;
  const schedule = new PostureSchedule();
  while (!signal.aborted) {
    let waitMs: number;
    try {
      const result = await checkIn(stateDir, intervalMs, logger);
      failures = 0;
      waitMs = result.next_check_ms;
      logger.info({ ...result }, result.action.replace('_', ' '));
    } catch (err) {
      if (isFatal(err)) throw err;
      failures += 1;
      const transient = isTransient(err);
      waitMs = transient ? backoff(failures, Math.min(5000, intervalMs / 10), intervalMs) : intervalMs;
      const e = err as { code?: string; message?: string };
      logger.error(
        {
          code: e.code ?? 'internal_error',
          error: e.message ?? String(err),
          failures,
          retry_in_ms: Math.round(waitMs),
        },
        transient ? 'check-in failed, retrying' : 'check-in failed',
      );
    }
    if (postureOptions && !signal.aborted) {
      const next = await postureDue(stateDir, postureOptions, schedule, logger);
      if (next !== undefined) waitMs = Math.min(waitMs, Math.max(next, 1000));
    }
    await delay(waitMs, undefined, { signal }).catch(() => undefined); // aborted: stop
  }
  logger.info('stopped');
}
