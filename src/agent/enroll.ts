// Registering a device, the first time (`gatehouse device register`) and again (`run`, when the
// registration is gone or its mode no longer fits the organization). The server says yes before
// anything is kept locally; when keeping it fails, the new registration is unregistered again so
// no orphan is left on the server.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { DeviceAssuranceLevel } from '../devices/attestation/index.js';
import type { DeviceAuthorization } from '../devices/index.js';
import { GatehouseError } from '../errors/index.js';
import { parseCaChain, parsePem, x509 } from '../pki/index.js';
import { collectFacts } from './facts.js';
import { isServerError, isTransient, ServerClient } from './http.js';
import { type AttestedKey, createAttestedKey } from './attestation/index.js';
import { createDeviceKey, type DeviceKey, destroyKey } from './key-provider.js';
import { mdmForOrg, readMdmFile } from './mdm.js';
import {
  type AgentState,
  type EnrolmentSource,
  type LoadedState,
  type ProviderSettings,
  providerOptions,
  type RegistrationMode,
  saveRegistration,
} from './state.js';

export interface RegistrationPolicy {
  mode: RegistrationMode;
  /** A hardware key is demanded (the software provider does not qualify). */
  hardwareRequired: boolean;
  /** Who demands it, for messages. */
  reason: string;
}

/**
 * The registration the organization wants: hardware-backed when the MDM file says
 * hardware_backed_registration=true or the server requires it; standard when the MDM file says
 * false (and the server does not require it); otherwise hardware-backed with the configured key,
 * or standard when no key provider is configured.
 */
export function registrationPolicy(
  mdmHardwareBacked: boolean | undefined,
  serverRequires: boolean | undefined,
  keyProviderConfigured = true,
): RegistrationPolicy {
  if (serverRequires)
    return { mode: 'hardware_backed', hardwareRequired: true, reason: 'the organization requires it' };
  if (mdmHardwareBacked === true)
    return {
      mode: 'hardware_backed',
      hardwareRequired: true,
      reason: 'the MDM file sets hardware_backed_registration',
    };
  if (mdmHardwareBacked === false)
    return {
      mode: 'standard',
      hardwareRequired: false,
      reason: 'the MDM file turns hardware_backed_registration off',
    };
  if (!keyProviderConfigured)
    return { mode: 'standard', hardwareRequired: false, reason: 'no key provider is configured' };
  return { mode: 'hardware_backed', hardwareRequired: false, reason: 'a key provider is configured' };
}

/** hardware_backed_registration for `org` in the MDM file the state names (re-read every time). */
export function mdmHardwareBacked(source: EnrolmentSource, org: string): boolean | undefined {
  if (!source.mdm_file) return undefined;
  const doc = readMdmFile(source.mdm_file, { optional: true });
  return doc ? mdmForOrg(doc, source.mdm_file, org).hardwareBackedRegistration : undefined;
}

export function refuseSoftwareKey(policy: RegistrationPolicy, provider: ProviderSettings | null): void {
  if (policy.mode === 'hardware_backed' && provider === null)
    throw new GatehouseError(
      'key_provider_required',
      `hardware-backed registration is required (${policy.reason}): register with --key-provider tpm2 or pkcs11`,
      400,
    );
  if (policy.hardwareRequired && provider?.provider === 'software')
    throw new GatehouseError(
      'hardware_backed_required',
      `hardware-backed registration is required (${policy.reason}) and a software key does not qualify: use --key-provider tpm2 or pkcs11`,
      403,
    );
}

/** The service token to register with: the secret file named in the state, or the MDM file. */
export function serviceToken(source: EnrolmentSource, org: string): { clientId: string; secret: string } {
  if (source.service_token_id && source.service_token_secret_file) {
    let secret: string;
    try {
      secret = readFileSync(source.service_token_secret_file, 'utf8').trim();
    } catch (err) {
      throw new GatehouseError(
        'service_token_unavailable',
        `cannot read the service token secret file ${source.service_token_secret_file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
    if (!secret)
      throw new GatehouseError(
        'service_token_unavailable',
        `the service token secret file ${source.service_token_secret_file} is empty`,
      );
    return { clientId: source.service_token_id, secret };
  }
  const config = source.mdm_file
    ? (() => {
        const doc = readMdmFile(source.mdm_file, { optional: true });
        return doc && mdmForOrg(doc, source.mdm_file, org).config;
      })()
    : undefined;
  if (config?.authClientId && config.authClientSecret)
    return { clientId: config.authClientId, secret: config.authClientSecret };
  if (source.identity)
    throw new GatehouseError(
      'identity_login_required',
      'this device was registered by signing in as a user: registering it again needs a person (`gatehouse device register --identity`) or a service token in the MDM file',
    );
  throw new GatehouseError(
    'service_token_required',
    'registering needs a service token: --service-token-id with --service-token-secret-file, or auth_client_id/auth_client_secret in the MDM file',
  );
}

/** The CA file (PEM): unexpired CA certificates forming one chain (parseCaChain), else `invalid_ca_file`. */
export function readCaFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new GatehouseError(
      'invalid_ca_file',
      `cannot read the CA file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  try {
    return parseCaChain(text)
      .certificates.map((c) => c.toString())
      .join('');
  } catch (err) {
    throw new GatehouseError(
      'invalid_ca_file',
      `the CA file ${path} is not the organization's root CA (PEM): ${(err as Error).message}`,
    );
  }
}

/** Organization names (subject O=) of the certificates in a PEM text. */
function organizations(pem: string): string[] {
  return parsePem(pem, 'CERTIFICATE').flatMap((der) =>
    new x509.X509Certificate(der).subjectName.getField('O'),
  );
}

/**
 * The organization check: the org named on the command line (or in the MDM file) must be the O= of
 * the CA file (checked before registering) and of the certificate the server issues.
 */
export function checkOrganization(pem: string, org: string, what: string): void {
  const names = organizations(pem);
  if (!names.includes(org))
    throw new GatehouseError(
      'org_mismatch',
      `${what} belongs to ${names.length ? names.map((n) => JSON.stringify(n)).join(', ') : 'no organization'}, not ${JSON.stringify(org)}`,
    );
}

/** What a registration is made from: the state's settings, the dir, and what the server said. */
export type { DeviceAuthorization };

export type EnrolInput = Pick<
  AgentState,
  'server_url' | 'org' | 'ca_file' | 'ca_pem' | 'key_provider' | 'enrolment' | 'fact_overrides'
> & {
  dir: string;
  /** The server's require_hardware_backed_registration, when known. */
  serverRequires?: boolean;
  /**
   * Shows a person where to sign in (identity registration, `enrolment.identity`). Without it
   * (the daemon) only a service token can register.
   */
  showDeviceLogin?: (login: DeviceAuthorization) => void;
  /** The current registration's token, when registering again: lets the server replace it. */
  previousToken?: string;
};

/**
 * Identity registration: starts a device login with the registration request, shows the person
 * where to sign in, and polls (RFC 8628 §3.4-3.5) until the server hands over the registration:
 * every `interval` seconds, 5 more after each slow_down; transient failures are retried until
 * the login expires.
 */
async function registerByDeviceLogin(
  client: ServerClient,
  body: Record<string, unknown>,
  show: (login: DeviceAuthorization) => void,
): Promise<RegistrationResponse> {
  const login = await client.call<DeviceAuthorization>('POST', '/registrations/device_authorization', {
    body,
  });
  show(login);
  const deadline = Date.now() + login.expires_in * 1000;
  let interval = Math.max(1, login.interval);
  for (;;) {
    await delay(interval * 1000);
    try {
      return await client.call<RegistrationResponse>('POST', '/registrations/device_token', {
        body: { device_code: login.device_code },
      });
    } catch (err) {
      const code = isServerError(err, 400) ? err.code : undefined;
      if (code === 'access_denied')
        throw new GatehouseError('device_login_denied', 'the registration was denied in the browser');
      if (code === 'slow_down') interval += 5;
      else if (code !== 'authorization_pending' && code !== 'expired_token' && !isTransient(err)) throw err;
      if (code === 'expired_token' || Date.now() >= deadline)
        throw new GatehouseError(
          'device_login_expired',
          'nobody signed in to approve this device in time: run the registration again',
        );
    }
  }
}

interface RegistrationResponse {
  registration_id: string;
  device_id: string;
  token: string;
  mode: RegistrationMode;
  /** What the server proved of the key (docs/devices.md); servers before attestation send none. */
  assurance?: DeviceAssuranceLevel;
  certificate?: string;
  certificate_chain?: string;
}

/** cert.pem: the leaf, then its chain (none for a standard registration). */
export function certificateFile(r: { certificate?: string; certificate_chain?: string }): string | undefined {
  return r.certificate && r.certificate + (r.certificate_chain ?? '');
}

/** A client for device calls with the given credentials (mTLS with the key when there is a certificate). */
export function deviceClient(
  serverUrl: string,
  caPem: string | null,
  key: DeviceKey | undefined,
  certificatePem: string | undefined,
): ServerClient {
  if (certificatePem && !key)
    throw new GatehouseError('state_invalid', 'a hardware-backed registration needs its key');
  return new ServerClient({
    serverUrl,
    ...(caPem ? { caPem } : {}),
    // The context replaces `ca`: it gets the org root itself, so it trusts only that.
    ...(key && certificatePem ? key.tlsOptions(certificatePem, caPem ? { ca: caPem } : {}) : {}),
  });
}

/** Unregisters what the server just registered; the error to report, saying how that went. */
async function undoRegistration(
  input: EnrolInput,
  reg: RegistrationResponse,
  key: DeviceKey | undefined,
  err: unknown,
): Promise<GatehouseError> {
  let outcome = `registration ${reg.registration_id} was unregistered again`;
  let client: ServerClient | undefined;
  try {
    client = deviceClient(input.server_url, input.ca_pem, key, certificateFile(reg));
    await client.call('DELETE', '/devices/self', { bearer: reg.token });
  } catch (undoErr) {
    outcome = `and registration ${reg.registration_id} could not be unregistered again: ${(undoErr as Error).message}; an admin can revoke it`;
  } finally {
    await client?.close();
  }
  const message = `${err instanceof Error ? err.message : String(err)} (${outcome})`;
  return err instanceof GatehouseError
    ? new GatehouseError(err.code, message, err.status, { cause: err })
    : new GatehouseError('registration_failed', message, 500, { cause: err });
}

const keyLabel = () => `gatehouse-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/**
 * Registers with the server and keeps the result in the state dir. Creates a new key for
 * hardware-backed registrations. On failure nothing new is left behind: the new key is deleted
 * (from the token, or its software key file), and a registration the server made is unregistered
 * (best effort; the error says so when that failed too).
 */
export async function enrol(input: EnrolInput): Promise<LoadedState> {
  const policy = registrationPolicy(
    mdmHardwareBacked(input.enrolment, input.org),
    input.serverRequires,
    input.key_provider !== null,
  );
  refuseSoftwareKey(policy, input.key_provider);
  // A person can approve only when one is there to be shown the code (register, not the daemon).
  const showDeviceLogin = input.enrolment.identity ? input.showDeviceLogin : undefined;
  const credentials = showDeviceLogin ? undefined : serviceToken(input.enrolment, input.org);
  const facts = collectFacts({
    name: input.fact_overrides.name,
    serialNumber: input.fact_overrides.serial_number,
  });
  const keyOptions = providerOptions(input.dir, input.key_provider);

  let key: DeviceKey | undefined;
  let registered: RegistrationResponse | undefined;
  let attested: AttestedKey | undefined;
  try {
    let csr: string | undefined;
    if (policy.mode === 'hardware_backed') {
      // TPM attestation (docs/devices.md): an attestable key, proved in the registration call.
      if (input.key_provider?.attest) attested = await createAttestedKey(keyOptions, keyLabel());
      key = attested ? attested.key : await createDeviceKey(keyOptions, keyLabel());
      csr = await key.createCsr({ commonName: (facts.hostname ?? 'gatehouse-device').slice(0, 64) });
    }
    const client = new ServerClient({
      serverUrl: input.server_url,
      ...(input.ca_pem ? { caPem: input.ca_pem } : {}),
    });
    const body = {
      ...facts,
      key_protection: key ? key.protection : 'software',
      ...(csr ? { csr } : {}),
      ...(input.previousToken ? { previous_registration_token: input.previousToken } : {}),
    };
    try {
      if (attested) Object.assign(body, { attestation: await attested.evidence(client) });
      registered = showDeviceLogin
        ? await registerByDeviceLogin(client, body, showDeviceLogin)
        : await client.call<RegistrationResponse>('POST', '/registrations', {
            headers: {
              'gatehouse-access-client-id': credentials?.clientId ?? '',
              'gatehouse-access-client-secret': credentials?.secret ?? '',
            },
            body,
          });
    } finally {
      await client.close();
    }
    if (registered.mode !== policy.mode)
      throw new GatehouseError(
        'bad_response',
        `asked for a ${policy.mode} registration, the server made a ${registered.mode} one`,
      );
    if (key && !registered.certificate)
      throw new GatehouseError(
        'bad_response',
        'the server issued no certificate for a hardware-backed registration',
      );
    if (registered.certificate)
      checkOrganization(registered.certificate, input.org, "the server's certificate");
    const now = new Date().toISOString();
    const loaded: LoadedState = {
      dir: input.dir,
      token: registered.token,
      state: {
        version: 1,
        server_url: input.server_url,
        ca_file: input.ca_file,
        ca_pem: input.ca_pem,
        org: input.org,
        registration_id: registered.registration_id,
        device_id: registered.device_id,
        mode: registered.mode,
        assurance: registered.assurance ?? null,
        key_protection: key ? key.protection : 'software',
        key_reference: key ? key.reference : null,
        key_provider: input.key_provider,
        enrolment: input.enrolment,
        fact_overrides: input.fact_overrides,
        registered_at: now,
        last_successful_call: now,
      },
      certificatePem: certificateFile(registered),
    };
    await saveRegistration(loaded).catch((err: unknown) => {
      throw new GatehouseError(
        'state_write_failed',
        `cannot write the agent state in ${input.dir}: ${err instanceof Error ? err.message : String(err)}`,
        500,
        { cause: err },
      );
    });
    return loaded;
  } catch (err) {
    const failure = registered ? await undoRegistration(input, registered, key, err) : err;
    if (key) {
      const disposal = await destroyKey(key);
      if (disposal.key === 'kept' && failure instanceof GatehouseError)
        throw new GatehouseError(
          failure.code,
          `${failure.message} (and the new key could not be deleted: ${disposal.reason})`,
          failure.status,
          { cause: failure },
        );
    }
    throw failure;
  } finally {
    await key?.close();
    await attested?.cleanup();
  }
}
