import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { KeyProviderOptions } from './types.js';
import { keyError } from './errors.js';

export const DEFAULT_TPM_TCTI = 'device:/dev/tpmrm0';
export const DEFAULT_TPM2_MODULE = 'libtpm2_pkcs11.so.1';
export const DEFAULT_TPM2_TOKEN = 'device';

const TRIPLETS: Partial<Record<NodeJS.Architecture, string>> = {
  x64: 'x86_64-linux-gnu',
  arm64: 'aarch64-linux-gnu',
  arm: 'arm-linux-gnueabihf',
  ppc64: 'powerpc64le-linux-gnu',
  s390x: 's390x-linux-gnu',
  riscv64: 'riscv64-linux-gnu',
};

/** Library directories, most specific first (Debian multiarch, then the usual others). */
export function libraryDirs(): string[] {
  const triplet = TRIPLETS[process.arch];
  return [
    ...(triplet ? [`/usr/lib/${triplet}`, `/lib/${triplet}`] : []),
    '/usr/lib64',
    '/usr/lib',
    '/usr/local/lib',
  ];
}

/** A bare library name (no '/') → its absolute path in the library dirs, else the name as is. */
export function resolveLibrary(nameOrPath: string): string {
  if (nameOrPath.includes('/')) return nameOrPath;
  for (const dir of libraryDirs()) {
    const p = `${dir}/${nameOrPath}`;
    if (existsSync(p)) return p;
  }
  return nameOrPath;
}

/** The PKCS#11 module both pkcs11js and the OpenSSL engine load (must be the same file). */
export function pkcs11ModulePath(opts: KeyProviderOptions): string {
  if (opts.pkcs11Module) return resolveLibrary(opts.pkcs11Module);
  if (opts.provider === 'tpm2') return resolveLibrary(DEFAULT_TPM2_MODULE);
  throw keyError('invalid_key_options', "provider 'pkcs11' needs pkcs11Module (path of the module .so)");
}

/** libp11's OpenSSL 3 engine (Debian: libengine-pkcs11-openssl). */
export function pkcs11EnginePath(opts: KeyProviderOptions): string {
  if (opts.pkcs11Engine) {
    if (!isAbsolute(opts.pkcs11Engine) || !existsSync(opts.pkcs11Engine)) {
      throw keyError('engine_unavailable', `PKCS#11 engine ${opts.pkcs11Engine} not found`);
    }
    return opts.pkcs11Engine;
  }
  for (const dir of libraryDirs()) {
    for (const sub of ['engines-3', 'openssl/engines-3']) {
      const p = `${dir}/${sub}/pkcs11.so`;
      if (existsSync(p)) return p;
    }
  }
  throw keyError(
    'engine_unavailable',
    "libp11's PKCS#11 OpenSSL engine (engines-3/pkcs11.so) is not installed (Debian: libengine-pkcs11-openssl)",
  );
}
