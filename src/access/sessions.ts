import { type Static, Type } from '@sinclair/typebox';
import type { SessionRevocation } from '../store/index.js';
import { DEFAULT_CLOCK_TOLERANCE_MS } from './tokens/index.js';
import type { AccessTokenClaims } from './tokens/index.js';
import { MAX_SESSION_DURATION_MS, UUID_PATTERN } from './policy/index.js';

/**
 * Admin revocations of Access sessions, as the edge holds them: pure and in memory. A revocation
 * refuses every session token issued at or before its time (`iat`, whole seconds, so a session
 * issued in the same second is refused too: fail closed) that matches every selector it sets:
 * the application, the user (e-mail, case-insensitive, or subject), the device (the certificate
 * the session is bound to).
 */
interface CompiledRevocation {
  appId: string | undefined;
  principal: string | undefined;
  /** `x5t#S256` thumbprints (base64url SHA-256) of the device's certificates. */
  certificates: ReadonlySet<string> | undefined;
  revokedAtMs: number;
}

/** Revocations older than this can match no session that has not expired anyway. */
export const REVOCATION_HORIZON_MS = MAX_SESSION_DURATION_MS + DEFAULT_CLOCK_TOLERANCE_MS;

const hexToX5t = (hex: string) => Buffer.from(hex, 'hex').toString('base64url');

const push = <K, V>(map: Map<K, V[]>, key: K, value: V) => {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
};

export class SessionRevocations {
  // Each revocation is filed under its most selective selector, so a request looks at a handful.
  readonly #byCertificate = new Map<string, CompiledRevocation[]>();
  readonly #byPrincipal = new Map<string, CompiledRevocation[]>();
  readonly #byApp = new Map<string, CompiledRevocation[]>();
  readonly size: number;

  constructor(rows: readonly SessionRevocation[], nowMs: number) {
    let size = 0;
    for (const row of rows) {
      const revokedAtMs = Date.parse(row.revoked_at);
      if (!(revokedAtMs >= nowMs - REVOCATION_HORIZON_MS)) continue;
      const fingerprints = row.certificates ?? undefined;
      const revocation: CompiledRevocation = {
        appId: row.app_id ?? undefined,
        principal: row.principal?.toLowerCase() ?? undefined,
        certificates: fingerprints ? new Set(fingerprints.map(hexToX5t)) : undefined,
        revokedAtMs,
      };
      size++;
      if (revocation.certificates) {
        // A device without certificates has no session bound to it: nothing to file.
        for (const x5t of revocation.certificates) push(this.#byCertificate, x5t, revocation);
      } else if (revocation.principal !== undefined)
        push(this.#byPrincipal, revocation.principal, revocation);
      else if (revocation.appId !== undefined) push(this.#byApp, revocation.appId, revocation);
    }
    this.size = size;
  }

  /** Whether the session `claims` (verified for the application `appId`) has been revoked. */
  revoked(appId: string, claims: AccessTokenClaims): boolean {
    const issuedMs = claims.iat * 1000;
    const x5t = claims.cnf?.['x5t#S256'];
    const sub = claims.sub.toLowerCase();
    const email = claims.email?.toLowerCase();
    const matches = (r: CompiledRevocation) =>
      issuedMs <= r.revokedAtMs &&
      (r.appId === undefined || r.appId === appId) &&
      (r.principal === undefined || r.principal === sub || r.principal === email) &&
      (r.certificates === undefined || (x5t !== undefined && r.certificates.has(x5t)));
    const lists = [
      x5t === undefined ? undefined : this.#byCertificate.get(x5t),
      this.#byPrincipal.get(sub),
      email === undefined || email === sub ? undefined : this.#byPrincipal.get(email),
      this.#byApp.get(appId),
    ];
    return lists.some((list) => list?.some(matches) === true);
  }
}

/** `POST /access/sessions/revocations`: the selectors are ANDed; at least one is needed. */
export const SessionRevocationInput = Type.Object(
  {
    app_id: Type.Optional(Type.String({ pattern: UUID_PATTERN, description: "this application's sessions" })),
    user: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 320,
        pattern: '^[^\\x00-\\x1f\\x7f]+$',
        description:
          'an e-mail address (any case) or the session subject (IdP subject, service token client id)',
      }),
    ),
    device_id: Type.Optional(
      Type.String({ pattern: UUID_PATTERN, description: "sessions bound to the device's certificates" }),
    ),
    registration_id: Type.Optional(
      Type.String({ pattern: UUID_PATTERN, description: "sessions bound to the registration's certificate" }),
    ),
    certificate_sha256: Type.Optional(
      Type.String({
        pattern: '^[0-9a-fA-F]{64}$',
        description: 'sessions bound to this client certificate (SHA-256 of the DER, hex)',
      }),
    ),
  },
  { additionalProperties: false, minProperties: 1, $id: 'SessionRevocationInput' },
);
export type SessionRevocationInput = Static<typeof SessionRevocationInput>;

/** A revocation as the API and the CLI show it. */
export const sessionRevocationView = (r: SessionRevocation) => ({
  id: r.id,
  app_id: r.app_id,
  user: r.principal,
  device_id: r.device_id,
  registration_id: r.registration_id,
  certificates: r.certificates,
  revoked_at: r.revoked_at,
});
