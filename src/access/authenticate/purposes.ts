import { hkdfSync } from 'node:crypto';

/**
 * What a login is for. Each purpose has its own callback, its own state cookie and its own
 * state key: a state sealed for one purpose opens for no other (`purposeKey`, and the purpose is
 * in the seal's AAD as well).
 * - `app`: a person signs in to an Access application at the edge;
 * - `console`: an admin signs in to the control plane;
 * - `device`: a person approves a device login (RFC 8628 style registration).
 */
export type LoginPurpose = 'app' | 'console' | 'device';

export interface PurposeSettings {
  /** Path of the callback on the origin (the redirect URI registered at the IdP is origin + this). */
  callbackPath: string;
  /** The cookie that carries the sealed state across the IdP redirect, and the path it is sent to. */
  cookie: string;
  cookiePath: string;
}

export const LOGIN_PURPOSES: Readonly<Record<LoginPurpose, Readonly<PurposeSettings>>> = {
  app: {
    callbackPath: '/.gatehouse/callback',
    cookie: 'Gatehouse_Login',
    cookiePath: '/.gatehouse/callback',
  },
  console: {
    callbackPath: '/api/v1/admin/oidc/callback',
    cookie: 'Gatehouse_Admin_Login',
    cookiePath: '/api/v1/admin/oidc',
  },
  device: {
    callbackPath: '/device/callback',
    cookie: 'Gatehouse_Device_Login',
    cookiePath: '/device/callback',
  },
};

/** The name of the login-state root key (`authority.derivedKey(LOGIN_STATE_KEY)`), for every purpose. */
export const LOGIN_STATE_KEY = 'oidc-login-state';

/** The state key of one purpose, derived from the root key with HKDF-SHA256 (the purpose in `info`). */
export function purposeKey(rootKey: Buffer, purpose: LoginPurpose): Buffer {
  if (!Buffer.isBuffer(rootKey) || rootKey.length < 32) {
    throw new TypeError('the login-state root key must be a Buffer of at least 32 bytes');
  }
  if (!Object.hasOwn(LOGIN_PURPOSES, purpose))
    throw new TypeError(`unknown login purpose ${String(purpose)}`);
  return Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), `gatehouse/login-state/${purpose}`, 32));
}
