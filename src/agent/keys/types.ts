import type { SecureContext, SecureContextOptions } from 'node:tls';

/** Where the device key lives. */
export type KeyProtection = 'tpm2' | 'pkcs11' | 'software';

export interface KeyProviderOptions {
  provider: KeyProtection;
  /** Agent state dir (0700); software keys live here (0600), and so does the engine's config. */
  stateDir: string;
  /** TCTI of the TPM, default 'device:/dev/tpmrm0' (the kernel's resource manager). */
  tpmTcti?: string;
  /**
   * tpm2-pkcs11 store directory (TPM2_PKCS11_STORE). Unset: the library's own search
   * (TPM2_PKCS11_STORE from the environment, /etc/tpm2_pkcs11, $HOME/.tpm2_pkcs11, the cwd).
   */
  tpm2PkcsStore?: string;
  /** Path of the PKCS#11 module (.so); required for 'pkcs11', for 'tpm2' default libtpm2_pkcs11.so.1. */
  pkcs11Module?: string;
  /** Token label for new keys; required for 'pkcs11', for 'tpm2' default 'device'. Loading uses the reference's. */
  pkcs11Token?: string;
  /** File holding the user PIN (one trailing newline is ignored). PINs never go on a command line. */
  pkcs11PinFile?: string;
  /** Path of libp11's OpenSSL engine (pkcs11.so); default: looked up in the usual engines-3 dirs. */
  pkcs11Engine?: string;
  /** Required for 'software': the key is a plain PEM file, not protected by hardware. */
  insecureSoftwareKey?: boolean;
}

/** How the state dir finds a key kept in a PKCS#11 token (tpm2-pkcs11 or another module). */
export interface TokenKeyReference {
  provider: 'tpm2' | 'pkcs11';
  /** Token label. */
  token: string;
  /** CKA_ID of the key pair, lowercase hex. */
  id: string;
  /** CKA_LABEL given at creation. */
  label: string;
  /** SHA-256 of the SubjectPublicKeyInfo (DER), lowercase hex: a load checks it is the same key. */
  spkiSha256: string;
  /** The PKCS#11 module used at creation; used on load when the options name none. */
  module?: string;
}

/** How the state dir finds a software key. */
export interface SoftwareKeyReference {
  provider: 'software';
  /** File name of the PKCS#8 PEM key, relative to the state dir. */
  file: string;
  label: string;
  spkiSha256: string;
}

/** JSON-serialisable: what the state dir keeps to find the key again (never key material for hardware). */
export type KeyReference = TokenKeyReference | SoftwareKeyReference;

/** Extra options for the SecureContext, e.g. `ca` to verify the server (a SecureContext replaces `ca`). */
export type ExtraTlsOptions = Omit<
  SecureContextOptions,
  'key' | 'cert' | 'pfx' | 'passphrase' | 'privateKeyEngine' | 'privateKeyIdentifier'
>;

export interface DeviceKey {
  protection: KeyProtection;
  reference: KeyReference;
  /** SubjectPublicKeyInfo, PEM. */
  publicKeyPem: string;
  /** PKCS#10 PEM signed by the key (ECDSA P-256 with SHA-256). */
  createCsr(subject: { commonName: string }): Promise<string>;
  /**
   * TLS options presenting `certificatePem` (leaf first, then any intermediates) with this key, for
   * node:https (`secureContext`) or undici (`connect: { secureContext }`). For tpm2/pkcs11 the
   * handshake is signed inside the token through libp11's OpenSSL engine, which needs the process
   * to have been started with the engine config: see ensureEngineProcess().
   */
  tlsOptions(certificatePem: string, extra?: ExtraTlsOptions): { secureContext: SecureContext };
  /**
   * Deletes the key from where it lives (every token object with its CKA_ID, or the software key
   * file), then closes it. For a key whose registration ended; a SecureContext made from it must
   * not be used afterwards.
   */
  destroy(): Promise<void>;
  close(): Promise<void>;
}
