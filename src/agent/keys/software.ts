// Software keys: a PKCS#8 PEM file in the agent state dir (0600). Only with insecureSoftwareKey.

import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  sign,
  type KeyObject,
} from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { promisify } from 'node:util';
import { buildCsr, type P256Signer } from './csr.js';
import { errorMessage, keyError } from './errors.js';
import type { DeviceKey, ExtraTlsOptions, KeyProviderOptions, SoftwareKeyReference } from './types.js';

const generateKeyPairAsync = promisify(generateKeyPair);

function requireFlag(opts: KeyProviderOptions): void {
  if (opts.insecureSoftwareKey !== true) {
    throw keyError(
      'insecure_key_refused',
      'a software device key is not protected by hardware; allow it explicitly (insecureSoftwareKey) or use tpm2/pkcs11',
    );
  }
}

function spkiDer(key: KeyObject): Buffer {
  return createPublicKey(key).export({ type: 'spki', format: 'der' });
}

class SoftwareDeviceKey implements DeviceKey {
  readonly protection = 'software' as const;
  readonly publicKeyPem: string;
  #privateKeyPem: string;
  #key: KeyObject;

  constructor(
    readonly reference: SoftwareKeyReference,
    privateKeyPem: string,
    private readonly stateDir: string,
  ) {
    this.#privateKeyPem = privateKeyPem;
    this.#key = createPrivateKey(privateKeyPem);
    this.publicKeyPem = createPublicKey(this.#key).export({ type: 'spki', format: 'pem' }).toString();
  }

  createCsr(subject: { commonName: string }): Promise<string> {
    const key = this.#key;
    const signer: P256Signer = {
      spkiDer: spkiDer(key),
      sign: async (data) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' }),
    };
    return buildCsr(signer, subject.commonName);
  }

  tlsOptions(certificatePem: string, extra: ExtraTlsOptions = {}) {
    return {
      secureContext: createSecureContext({ ...extra, key: this.#privateKeyPem, cert: certificatePem }),
    };
  }

  async destroy(): Promise<void> {
    await deleteSoftwareKey({ provider: 'software', stateDir: this.stateDir }, this.reference);
  }

  async close(): Promise<void> {}
}

function keyPath(opts: KeyProviderOptions, ref: SoftwareKeyReference): string {
  if (typeof ref.file !== 'string' || ref.file !== basename(ref.file) || ref.file.startsWith('.')) {
    throw keyError('invalid_key_options', 'malformed key reference');
  }
  return join(opts.stateDir, ref.file);
}

/**
 * Removes the key file; false when it was not there. A file holding another key than the
 * reference's is left alone (key_not_found). Needs no insecureSoftwareKey: it only removes.
 */
export async function deleteSoftwareKey(
  opts: KeyProviderOptions,
  ref: SoftwareKeyReference,
): Promise<boolean> {
  const path = keyPath(opts, ref);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  let matches = false;
  try {
    matches =
      createHash('sha256')
        .update(spkiDer(createPrivateKey(pem)))
        .digest('hex') === ref.spkiSha256;
  } catch {
    // not a key: not ours to remove
  }
  if (!matches) throw keyError('key_not_found', `${path} is not the registered key (public key differs)`);
  await unlink(path);
  return true;
}

export async function createSoftwareKey(opts: KeyProviderOptions, label: string): Promise<DeviceKey> {
  requireFlag(opts);
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  await mkdir(opts.stateDir, { recursive: true, mode: 0o700 });
  const file = `device-key-${createHash('sha256').update(spkiDer(privateKey)).digest('hex').slice(0, 16)}.pem`;
  const path = join(opts.stateDir, file);
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(pem);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const spkiSha256 = createHash('sha256').update(spkiDer(privateKey)).digest('hex');
  return new SoftwareDeviceKey({ provider: 'software', file, label, spkiSha256 }, pem, opts.stateDir);
}

export async function loadSoftwareKey(
  opts: KeyProviderOptions,
  ref: SoftwareKeyReference,
): Promise<DeviceKey> {
  requireFlag(opts);
  const path = keyPath(opts, ref);
  let pem: string;
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) {
      throw keyError(
        'insecure_key_permissions',
        `${path} is accessible to group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    pem = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw keyError('key_not_found', `the software key ${path} does not exist`, err);
    }
    throw err;
  }
  let key: SoftwareDeviceKey;
  try {
    key = new SoftwareDeviceKey({ ...ref }, pem, opts.stateDir);
  } catch (err) {
    throw keyError('key_not_found', `${path} holds no usable private key: ${errorMessage(err)}`, err);
  }
  const der = createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' });
  if (createHash('sha256').update(der).digest('hex') !== ref.spkiSha256) {
    throw keyError('key_not_found', `${path} is not the registered key (public key differs)`);
  }
  return key;
}
