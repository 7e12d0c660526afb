// Keys held in a PKCS#11 token: tpm2-pkcs11 over a TPM 2.0 ('tpm2') or any other module such as
// SoftHSM2 or a smart card ('pkcs11'). Key generation, the public key and CSR signatures go
// through pkcs11js; TLS handshakes through libp11's OpenSSL engine (engine.ts), addressed by a
// pkcs11: URI. Both share one initialised module per process (the engine finds it already
// initialised), so a module whose key went into a SecureContext is never finalised.

import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type * as P11 from 'pkcs11js';
import { isGatehouseError } from '../../errors/index.js';
import { buildCsr, type P256Signer } from './csr.js';
import { isEngineProcess } from './engine.js';
import { errorMessage, keyError } from './errors.js';
import { DEFAULT_TPM2_TOKEN, DEFAULT_TPM_TCTI, pkcs11ModulePath } from './paths.js';
import type { DeviceKey, ExtraTlsOptions, KeyProviderOptions, TokenKeyReference } from './types.js';

type Pkcs11Api = typeof P11;

/** DER of the P-256 curve OID (CKA_EC_PARAMS) and the SPKI prefix before the 65-byte point. */
const P256_PARAMS = Buffer.from('06082a8648ce3d030107', 'hex');
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');

let apiPromise: Promise<Pkcs11Api> | undefined;

async function pkcs11Api(): Promise<Pkcs11Api> {
  apiPromise ??= import('pkcs11js').then(
    // pkcs11js is CommonJS: its exports arrive as the default export.
    (m) => ((m as { default?: Pkcs11Api }).default ?? m) as Pkcs11Api,
  );
  try {
    return await apiPromise;
  } catch (err) {
    apiPromise = undefined;
    throw keyError(
      'no_tpm',
      `PKCS#11 support (the pkcs11js package) cannot be loaded: ${errorMessage(err)}`,
      err,
    );
  }
}

function ckr(api: Pkcs11Api, err: unknown): number | undefined {
  return err instanceof api.Pkcs11Error ? err.code : undefined;
}

// --- one initialised module per path, shared by every key of the process ---------------------

interface LoadedModule {
  path: string;
  api: Pkcs11Api;
  lib: P11.PKCS11;
  users: number;
  /** we called C_Initialize (else the engine did, and finalising is not ours to do) */
  ownsInit: boolean;
  /** a key of this module went into a SecureContext: the engine keeps using it */
  engineUsed: boolean;
  /** tpm2: the TCTI/store the module was initialised with (read from the env at C_Initialize) */
  tpmEnv?: string;
}

const modules = new Map<string, LoadedModule>();

function tpmEnvKey(opts: KeyProviderOptions): string {
  return `${opts.tpmTcti ?? DEFAULT_TPM_TCTI}|${opts.tpm2PkcsStore ?? ''}`;
}

function prepareTpmEnv(opts: KeyProviderOptions): void {
  const tcti = opts.tpmTcti ?? DEFAULT_TPM_TCTI;
  const device = /^device:(.+)$/.exec(tcti)?.[1];
  if (device && !existsSync(device)) {
    throw keyError('no_tpm', `no TPM: ${device} does not exist (TCTI ${tcti})`);
  }
  if (opts.tpm2PkcsStore) {
    if (!existsSync(opts.tpm2PkcsStore)) {
      throw keyError(
        'token_not_found',
        `tpm2-pkcs11 store ${opts.tpm2PkcsStore} does not exist (create it with tpm2_ptool init)`,
      );
    }
    process.env.TPM2_PKCS11_STORE = opts.tpm2PkcsStore;
  }
  // tpm2-pkcs11 reads these when the module is initialised.
  process.env.TPM2_PKCS11_TCTI = tcti;
}

async function acquireModule(opts: KeyProviderOptions): Promise<LoadedModule> {
  const api = await pkcs11Api();
  const path = pkcs11ModulePath(opts);
  const existing = modules.get(path);
  if (existing) {
    if (opts.provider === 'tpm2' && existing.tpmEnv !== tpmEnvKey(opts)) {
      throw keyError(
        'invalid_key_options',
        `${path} is already in use in this process with another TCTI or store`,
      );
    }
    existing.users++;
    return existing;
  }
  if (opts.provider === 'tpm2') prepareTpmEnv(opts);
  const lib = new api.PKCS11();
  try {
    lib.load(path);
  } catch (err) {
    throw keyError('no_tpm', `cannot load the PKCS#11 module ${path}: ${errorMessage(err)}`, err);
  }
  let ownsInit = true;
  try {
    lib.C_Initialize({ flags: api.CKF_OS_LOCKING_OK });
  } catch (err) {
    if (ckr(api, err) === api.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      ownsInit = false;
    } else {
      lib.close();
      const what =
        opts.provider === 'tpm2'
          ? `no usable TPM through TCTI ${opts.tpmTcti ?? DEFAULT_TPM_TCTI} (or no tpm2-pkcs11 store)`
          : `the PKCS#11 module ${path} failed to initialise`;
      throw keyError('no_tpm', `${what}: ${errorMessage(err)}`, err);
    }
  }
  const m: LoadedModule = { path, api, lib, users: 1, ownsInit, engineUsed: false };
  if (opts.provider === 'tpm2') m.tpmEnv = tpmEnvKey(opts);
  modules.set(path, m);
  return m;
}

function releaseModule(m: LoadedModule): void {
  m.users--;
  if (m.users > 0 || m.engineUsed || !m.ownsInit) return;
  modules.delete(m.path);
  try {
    m.lib.C_Finalize();
  } catch {
    // nothing left to clean up
  }
  try {
    m.lib.close();
  } catch {
    // idem
  }
}

// --- helpers ---------------------------------------------------------------------------------

async function readPin(opts: KeyProviderOptions): Promise<string> {
  if (!opts.pkcs11PinFile) throw keyError('pin_unavailable', 'no PIN file given (pkcs11PinFile)');
  let text: string;
  try {
    text = await readFile(opts.pkcs11PinFile, 'utf8');
  } catch (err) {
    throw keyError(
      'pin_unavailable',
      `cannot read the PIN file ${opts.pkcs11PinFile}: ${errorMessage(err)}`,
      err,
    );
  }
  const pin = text.replace(/\r?\n$/, '');
  if (pin.length === 0) throw keyError('pin_unavailable', `the PIN file ${opts.pkcs11PinFile} is empty`);
  return pin;
}

function tokenLabel(opts: KeyProviderOptions): string {
  if (opts.pkcs11Token) return opts.pkcs11Token;
  if (opts.provider === 'tpm2') return DEFAULT_TPM2_TOKEN;
  throw keyError('invalid_key_options', "provider 'pkcs11' needs pkcs11Token (the token label)");
}

function findSlot(m: LoadedModule, label: string): Buffer {
  const { api, lib } = m;
  const seen: string[] = [];
  let slots: Buffer[];
  try {
    slots = lib.C_GetSlotList(true);
  } catch (err) {
    throw keyError('no_tpm', `cannot list the tokens of ${m.path}: ${errorMessage(err)}`, err);
  }
  for (const slot of slots) {
    const info = lib.C_GetTokenInfo(slot);
    const name = info.label.trimEnd();
    if ((info.flags & api.CKF_TOKEN_INITIALIZED) === 0) continue;
    if (name === label) return slot;
    seen.push(JSON.stringify(name));
  }
  throw keyError(
    'token_not_found',
    `no PKCS#11 token labelled ${JSON.stringify(label)} in ${m.path}${seen.length ? ` (found ${seen.join(', ')})` : ''}`,
  );
}

function login(m: LoadedModule, session: Buffer, pin: string, opts: KeyProviderOptions): void {
  const { api, lib } = m;
  try {
    lib.C_Login(session, api.CKU_USER, pin);
  } catch (err) {
    const rv = ckr(api, err);
    if (rv === api.CKR_USER_ALREADY_LOGGED_IN) return;
    if (rv === api.CKR_PIN_INCORRECT || rv === api.CKR_PIN_INVALID || rv === api.CKR_PIN_LEN_RANGE) {
      throw keyError(
        'wrong_pin',
        `the token refused the PIN from ${opts.pkcs11PinFile} (not retried: a TPM locks out after a few failures)`,
        err,
      );
    }
    if (rv === api.CKR_PIN_LOCKED) {
      throw keyError(
        'tpm_locked',
        opts.provider === 'tpm2'
          ? 'the TPM is in dictionary-attack lockout: wait for its recovery time or clear it (tpm2_dictionarylockout --clear-lockout)'
          : "the token's user PIN is locked",
        err,
      );
    }
    throw keyError('token_error', `login to the token failed: ${errorMessage(err)}`, err);
  }
}

function findObjects(m: LoadedModule, session: Buffer, template: P11.Template): Buffer[] {
  const { lib } = m;
  lib.C_FindObjectsInit(session, template);
  try {
    return lib.C_FindObjects(session, 16);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
}

/** Destroys every object with this CKA_ID (the key pair, and anything else filed under it). */
function destroyObjects(m: LoadedModule, session: Buffer, id: Buffer): number {
  const handles = findObjects(m, session, [{ type: m.api.CKA_ID, value: id }]);
  for (const handle of handles) {
    try {
      m.lib.C_DestroyObject(session, handle);
    } catch (err) {
      throw keyError('token_error', `the token could not delete the key: ${errorMessage(err)}`, err);
    }
  }
  return handles.length;
}

function attribute(m: LoadedModule, session: Buffer, object: Buffer, type: number): Buffer {
  const [attr] = m.lib.C_GetAttributeValue(session, object, [{ type }]);
  if (!attr || !Buffer.isBuffer(attr.value))
    throw keyError('token_error', `attribute 0x${type.toString(16)} missing`);
  return attr.value;
}

function isTrue(value: Buffer): boolean {
  return value.length > 0 && value.some((b) => b !== 0);
}

/** CKA_EC_POINT (DER OCTET STRING, or the raw point from some tokens) → SPKI DER. */
function spkiFromEcPoint(value: Buffer): Buffer {
  let point = value;
  if (value.length === 67 && value[0] === 0x04 && value[1] === 0x41) point = value.subarray(2);
  if (point.length !== 65 || point[0] !== 0x04)
    throw keyError('token_error', 'the token returned an EC point that is not an uncompressed P-256 point');
  const spki = Buffer.concat([P256_SPKI_PREFIX, point]);
  createPublicKey({ key: spki, format: 'der', type: 'spki' }); // throws when not on the curve
  return spki;
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function pctEncode(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'), (b) =>
    /[A-Za-z0-9\-._~]/.test(String.fromCharCode(b))
      ? String.fromCharCode(b)
      : `%${b.toString(16).padStart(2, '0')}`,
  ).join('');
}

// --- the key ---------------------------------------------------------------------------------

interface TokenKeyParts {
  opts: KeyProviderOptions;
  module: LoadedModule;
  session: Buffer;
  privateKey: Buffer;
  spkiDer: Buffer;
  reference: TokenKeyReference;
  pin: string;
}

class TokenDeviceKey implements DeviceKey {
  readonly protection: 'tpm2' | 'pkcs11';
  readonly reference: TokenKeyReference;
  readonly publicKeyPem: string;
  #parts: TokenKeyParts;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(parts: TokenKeyParts) {
    this.#parts = parts;
    this.protection = parts.reference.provider;
    this.reference = parts.reference;
    this.publicKeyPem = createPublicKey({ key: parts.spkiDer, format: 'der', type: 'spki' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
  }

  /** One operation at a time on the session. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #signer(): P256Signer {
    const { module, session, privateKey, spkiDer } = this.#parts;
    return {
      spkiDer,
      sign: (data) =>
        this.#serial(async () => {
          if (this.#closed) throw keyError('key_not_found', 'the key is closed');
          const digest = createHash('sha256').update(data).digest();
          let sig: Buffer;
          try {
            module.lib.C_SignInit(session, { mechanism: module.api.CKM_ECDSA }, privateKey);
            sig = await module.lib.C_SignAsync(session, digest, Buffer.alloc(256));
          } catch (err) {
            throw keyError('token_error', `the token could not sign: ${errorMessage(err)}`, err);
          }
          if (sig.length !== 64) {
            throw keyError(
              'token_error',
              `the token could not sign: unexpected ECDSA signature length ${sig.length}`,
            );
          }
          return sig;
        }),
    };
  }

  createCsr(subject: { commonName: string }): Promise<string> {
    return buildCsr(this.#signer(), subject.commonName);
  }

  tlsOptions(certificatePem: string, extra: ExtraTlsOptions = {}) {
    const { opts, module, reference, pin } = this.#parts;
    if (this.#closed) throw keyError('key_not_found', 'the key is closed');
    if (!isEngineProcess(opts)) {
      throw keyError(
        'engine_unavailable',
        'this process was not started with the PKCS#11 engine config: call ensureEngineProcess() at start-up',
      );
    }
    // The PIN was checked by our own login (once); the engine logs in with the same PIN (or finds
    // the token logged in). pin-value rather than pin-source: libp11 would keep a newline of the file.
    const uri = `pkcs11:token=${pctEncode(reference.token)};id=${reference.id.replace(/../g, '%$&')};type=private?pin-value=${pctEncode(pin)}`;
    module.engineUsed = true;
    try {
      const secureContext = createSecureContext({
        ...extra,
        cert: certificatePem,
        privateKeyEngine: 'pkcs11',
        privateKeyIdentifier: uri,
      });
      return { secureContext };
    } catch (err) {
      throw keyError('token_error', `the OpenSSL engine could not use the key: ${errorMessage(err)}`, err);
    }
  }

  destroy(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) throw keyError('key_not_found', 'the key is closed');
      const { module, session, reference } = this.#parts;
      destroyObjects(module, session, Buffer.from(reference.id, 'hex'));
    }).then(() => this.close());
  }

  close(): Promise<void> {
    return this.#serial(async () => {
      if (this.#closed) return;
      this.#closed = true;
      const { module, session } = this.#parts;
      try {
        module.lib.C_CloseSession(session);
      } catch {
        // the session is gone already
      }
      releaseModule(module);
    });
  }
}

/** Opens a logged-in RW session on the token; the caller owns the returned release function. */
async function openToken(opts: KeyProviderOptions, label: string) {
  const pin = await readPin(opts); // before touching the token
  const module = await acquireModule(opts);
  let session: Buffer | undefined;
  try {
    const slot = findSlot(module, label);
    const { api, lib } = module;
    try {
      session = lib.C_OpenSession(slot, api.CKF_SERIAL_SESSION | api.CKF_RW_SESSION);
    } catch (err) {
      throw keyError(
        'token_error',
        `cannot open a session on token ${JSON.stringify(label)}: ${errorMessage(err)}`,
        err,
      );
    }
    login(module, session, pin, opts);
    const s = session;
    return {
      module,
      session: s,
      pin,
      abandon: () => {
        try {
          lib.C_CloseSession(s);
        } catch {
          // ignore
        }
        releaseModule(module);
      },
    };
  } catch (err) {
    if (session) {
      try {
        module.lib.C_CloseSession(session);
      } catch {
        // ignore
      }
    }
    releaseModule(module);
    throw err;
  }
}

export async function createTokenKey(opts: KeyProviderOptions, label: string): Promise<DeviceKey> {
  const provider = opts.provider as 'tpm2' | 'pkcs11';
  const token = tokenLabel(opts);
  const t = await openToken(opts, token);
  const { api, lib } = t.module;
  const id = randomBytes(16);
  let pair: P11.KeyPair;
  try {
    // No attribute set to false except CKA_EXTRACTABLE: tpm2-pkcs11 rejects false usage flags.
    pair = await lib.C_GenerateKeyPairAsync(
      t.session,
      { mechanism: api.CKM_EC_KEY_PAIR_GEN },
      [
        { type: api.CKA_CLASS, value: api.CKO_PUBLIC_KEY },
        { type: api.CKA_KEY_TYPE, value: api.CKK_EC },
        { type: api.CKA_TOKEN, value: true },
        { type: api.CKA_VERIFY, value: true },
        { type: api.CKA_EC_PARAMS, value: P256_PARAMS },
        { type: api.CKA_LABEL, value: label },
        { type: api.CKA_ID, value: id },
      ],
      [
        { type: api.CKA_CLASS, value: api.CKO_PRIVATE_KEY },
        { type: api.CKA_KEY_TYPE, value: api.CKK_EC },
        { type: api.CKA_TOKEN, value: true },
        { type: api.CKA_PRIVATE, value: true },
        { type: api.CKA_SENSITIVE, value: true },
        { type: api.CKA_EXTRACTABLE, value: false },
        { type: api.CKA_SIGN, value: true },
        { type: api.CKA_LABEL, value: label },
        { type: api.CKA_ID, value: id },
      ],
    );
  } catch (err) {
    t.abandon();
    throw keyError('token_error', `the token could not generate a P-256 key: ${errorMessage(err)}`, err);
  }
  try {
    const sensitive = isTrue(attribute(t.module, t.session, pair.privateKey, api.CKA_SENSITIVE));
    const extractable = isTrue(attribute(t.module, t.session, pair.privateKey, api.CKA_EXTRACTABLE));
    if (!sensitive || extractable) {
      throw keyError(
        'key_not_protected',
        'the token made a key that is not sensitive or is extractable; it was deleted',
      );
    }
    const spkiDer = spkiFromEcPoint(attribute(t.module, t.session, pair.publicKey, api.CKA_EC_POINT));
    return new TokenDeviceKey({
      opts,
      module: t.module,
      session: t.session,
      privateKey: pair.privateKey,
      spkiDer,
      pin: t.pin,
      reference: { provider, token, id: id.toString('hex'), label, spkiSha256: sha256Hex(spkiDer) },
    });
  } catch (err) {
    // Leave nothing behind.
    for (const handle of [pair.privateKey, pair.publicKey]) {
      try {
        lib.C_DestroyObject(t.session, handle);
      } catch {
        // best effort
      }
    }
    t.abandon();
    throw isGatehouseError(err) ? err : keyError('token_error', errorMessage(err), err);
  }
}

export async function loadTokenKey(opts: KeyProviderOptions, ref: TokenKeyReference): Promise<DeviceKey> {
  const key = await findTokenKey(opts, ref);
  if (!key)
    throw keyError(
      'key_not_found',
      `no private key with id ${ref.id} (${ref.label}) in token ${JSON.stringify(ref.token)}`,
    );
  return key;
}

/** The key of a reference, or undefined when the token has no private key with its id. */
async function findTokenKey(
  opts: KeyProviderOptions,
  ref: TokenKeyReference,
): Promise<DeviceKey | undefined> {
  if (
    !/^[0-9a-f]{2,128}$/.test(ref.id) ||
    ref.id.length % 2 !== 0 ||
    !/^[0-9a-f]{64}$/.test(ref.spkiSha256)
  ) {
    throw keyError('invalid_key_options', 'malformed key reference');
  }
  const t = await openToken(opts, ref.token);
  const { api } = t.module;
  try {
    const id = Buffer.from(ref.id, 'hex');
    const [privateKey] = findObjects(t.module, t.session, [
      { type: api.CKA_CLASS, value: api.CKO_PRIVATE_KEY },
      { type: api.CKA_ID, value: id },
    ]);
    if (!privateKey) {
      t.abandon();
      return undefined;
    }
    const [publicKey] = findObjects(t.module, t.session, [
      { type: api.CKA_CLASS, value: api.CKO_PUBLIC_KEY },
      { type: api.CKA_ID, value: id },
    ]);
    let spkiDer: Buffer;
    try {
      spkiDer = spkiFromEcPoint(attribute(t.module, t.session, publicKey ?? privateKey, api.CKA_EC_POINT));
    } catch (err) {
      throw keyError(
        'key_not_found',
        `cannot read the public key of key ${ref.id}: ${errorMessage(err)}`,
        err,
      );
    }
    if (sha256Hex(spkiDer) !== ref.spkiSha256) {
      throw keyError(
        'key_not_found',
        `the key with id ${ref.id} in token ${JSON.stringify(ref.token)} is not the one registered (public key differs)`,
      );
    }
    return new TokenDeviceKey({
      opts,
      module: t.module,
      session: t.session,
      privateKey,
      spkiDer,
      pin: t.pin,
      reference: { ...ref },
    });
  } catch (err) {
    t.abandon();
    throw err;
  }
}

/**
 * Deletes the key a reference names from its token: false when no private key with its id is
 * there. A key with that id but another public key is not the registered one and is left alone.
 */
export async function deleteTokenKey(opts: KeyProviderOptions, ref: TokenKeyReference): Promise<boolean> {
  const key = await findTokenKey(opts, ref);
  if (!key) return false;
  await key.destroy();
  return true;
}
