// The agent's state dir (0700): `token` (the device's bearer token), `cert.pem` (the registration's
// certificate and its chain, hardware-backed registrations only), `state.json` (everything else, no
// secrets) and, for software keys only, the key file. Every file is 0600 and replaced atomically;
// state.json is written last, so a registration exists locally exactly when state.json does.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
// The attestation entry point, not devices/index.js: the agent must not load the device service.
import { type DeviceAssuranceLevel, isDeviceAssurance } from '../devices/attestation/index.js';
import { GatehouseError } from '../errors/index.js';
import { writeFileAtomic } from './files.js';
import {
  KEY_PROTECTIONS,
  type KeyProtection,
  type KeyProviderOptions,
  type KeyReference,
} from './key-provider.js';

export const STATE_FILE = 'state.json';
export const TOKEN_FILE = 'token';
export const CERT_FILE = 'cert.pem';

export type RegistrationMode = 'hardware_backed' | 'standard';

/** Key provider options as kept in state.json: never a PIN, only where to read it. */
export interface ProviderSettings {
  provider: KeyProtection;
  tpm_tcti?: string;
  tpm2_pkcs11_store?: string;
  pkcs11_module?: string;
  pkcs11_token?: string;
  pkcs11_pin_file?: string;
  insecure_software_key?: boolean;
  /** tpm2 only: new keys are made attestable and proved to the server (TPM attestation). */
  attest?: boolean;
}

/** Where the service token for (re-)registration comes from: a secret file, or the MDM file. */
export interface EnrolmentSource {
  service_token_id?: string;
  service_token_secret_file?: string;
  /** The MDM file in force (re-read by `run` for hardware_backed_registration and credentials). */
  mdm_file?: string;
  /**
   * Registered through an identity login (`register --identity`): registering again needs a
   * person, unless the MDM file provides a service token.
   */
  identity?: true;
}

export interface AgentState {
  version: 1;
  server_url: string;
  /** The --ca-file given at registration, for reference; ca_pem is what is trusted. */
  ca_file: string | null;
  ca_pem: string | null;
  org: string;
  registration_id: string;
  device_id: string;
  mode: RegistrationMode;
  /** The level the server recorded for this registration (null: not told; older states lack it). */
  assurance?: DeviceAssuranceLevel | null;
  key_protection: KeyProtection;
  key_reference: KeyReference | null;
  /** null: registered without --key-provider (standard registration, no key). */
  key_provider: ProviderSettings | null;
  enrolment: EnrolmentSource;
  /** Facts given by flag (they win over what the machine reports, also when registering again). */
  fact_overrides: { name?: string; serial_number?: string };
  registered_at: string;
  last_successful_call: string | null;
}

export interface LoadedState {
  dir: string;
  state: AgentState;
  token: string;
  /** Leaf first, then its chain; hardware-backed registrations only. */
  certificatePem?: string;
}

const invalid = (dir: string, message: string) =>
  new GatehouseError('state_invalid', `the agent state in ${dir} is unusable: ${message}`);

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function isRegistered(dir: string): boolean {
  return readText(join(dir, STATE_FILE)) !== undefined;
}

function checkState(dir: string, value: unknown): AgentState {
  const s = value as Partial<AgentState> | null;
  if (typeof s !== 'object' || s === null || Array.isArray(s))
    throw invalid(dir, 'state.json is not an object');
  if (s.version !== 1) throw invalid(dir, `unsupported state version ${JSON.stringify(s.version)}`);
  for (const key of ['server_url', 'org', 'registration_id', 'device_id', 'registered_at'] as const)
    if (typeof s[key] !== 'string' || s[key] === '') throw invalid(dir, `state.json has no ${key}`);
  if (s.mode !== 'hardware_backed' && s.mode !== 'standard')
    throw invalid(dir, 'state.json has no valid mode');
  if (s.assurance != null && !isDeviceAssurance(s.assurance))
    throw invalid(dir, 'state.json has no valid assurance');
  if (!KEY_PROTECTIONS.includes(s.key_protection as KeyProtection))
    throw invalid(dir, 'state.json has no valid key_protection');
  if (s.key_provider === null) {
    if (s.mode !== 'standard') throw invalid(dir, 'a hardware-backed registration without a key_provider');
  } else if (!KEY_PROTECTIONS.includes(s.key_provider?.provider as KeyProtection))
    throw invalid(dir, 'state.json has no valid key_provider');
  if (s.mode === 'hardware_backed' && (typeof s.key_reference !== 'object' || s.key_reference === null))
    throw invalid(dir, 'a hardware-backed registration without a key_reference');
  if (typeof s.enrolment !== 'object' || s.enrolment === null)
    throw invalid(dir, 'state.json has no enrolment');
  return s as AgentState;
}

/** Reads the state dir; `not_registered` when it holds no registration. */
export function loadState(dir: string): LoadedState {
  let raw: string | undefined;
  let token: string | undefined;
  let certificatePem: string | undefined;
  try {
    raw = readText(join(dir, STATE_FILE));
    if (raw === undefined)
      throw new GatehouseError(
        'not_registered',
        `${dir} holds no registration (no ${STATE_FILE}): run \`gatehouse device register\` first`,
      );
    token = readText(join(dir, TOKEN_FILE))?.trim();
    certificatePem = readText(join(dir, CERT_FILE));
  } catch (err) {
    if (err instanceof GatehouseError) throw err;
    throw invalid(dir, (err as Error).message);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalid(dir, 'state.json is not JSON');
  }
  const state = checkState(dir, parsed);
  if (!token) throw invalid(dir, `${TOKEN_FILE} is missing or empty`);
  if (state.mode === 'hardware_backed') {
    if (!certificatePem) throw invalid(dir, `${CERT_FILE} is missing for a hardware-backed registration`);
    leafCertificate(certificatePem);
  }
  return {
    dir,
    state,
    token,
    ...(state.mode === 'hardware_backed' ? { certificatePem } : {}),
  };
}

/** The leaf of cert.pem (its first certificate): expiry, lifetime, public key. */
export function leafCertificate(certificatePem: string): X509Certificate {
  try {
    return new X509Certificate(certificatePem);
  } catch (err) {
    throw new GatehouseError(
      'state_invalid',
      `${CERT_FILE} holds no usable certificate: ${(err as Error).message}`,
    );
  }
}

/** Writes a whole registration: cert.pem, token, then state.json (the commit point). */
export async function saveRegistration(loaded: LoadedState): Promise<void> {
  if (loaded.certificatePem) await writeFileAtomic(join(loaded.dir, CERT_FILE), loaded.certificatePem);
  else await unlink(join(loaded.dir, CERT_FILE)).catch(() => undefined);
  await writeFileAtomic(join(loaded.dir, TOKEN_FILE), `${loaded.token}\n`);
  await saveStateFile(loaded.dir, loaded.state);
}

export async function saveStateFile(dir: string, state: AgentState): Promise<void> {
  await writeFileAtomic(join(dir, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
}

export async function saveCertificate(dir: string, certificatePem: string): Promise<void> {
  await writeFileAtomic(join(dir, CERT_FILE), certificatePem);
}

/**
 * Removes a registration from the state dir: state.json first (so what is left is no registration),
 * then the token and certificate. The key is the caller's (see discardKey).
 */
export async function removeRegistrationFiles(dir: string): Promise<void> {
  for (const file of [STATE_FILE, TOKEN_FILE, CERT_FILE])
    await unlink(join(dir, file)).catch(() => undefined);
}

/** Removes the state dir when nothing else is left in it. */
export async function removeDirIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch(() => undefined);
}

export function providerOptions(dir: string, settings: ProviderSettings | null): KeyProviderOptions {
  // No key provider (a standard registration): options that touch nothing, no engine and no key
  // (registrationPolicy never asks for a key then).
  if (!settings) return { provider: 'software', stateDir: dir };
  const opts: KeyProviderOptions = { provider: settings.provider, stateDir: dir };
  if (settings.tpm_tcti) opts.tpmTcti = settings.tpm_tcti;
  if (settings.tpm2_pkcs11_store) opts.tpm2PkcsStore = settings.tpm2_pkcs11_store;
  if (settings.pkcs11_module) opts.pkcs11Module = settings.pkcs11_module;
  if (settings.pkcs11_token) opts.pkcs11Token = settings.pkcs11_token;
  if (settings.pkcs11_pin_file) opts.pkcs11PinFile = settings.pkcs11_pin_file;
  if (settings.insecure_software_key) opts.insecureSoftwareKey = true;
  return opts;
}
