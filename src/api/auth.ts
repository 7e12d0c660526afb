import { ADMIN_CSRF_HEADER, ADMIN_SESSION_COOKIE, verifyAdminSession } from '../access/index.js';
import { GatehouseError } from '../errors/index.js';
import type { ApiApp, ApiContext } from './context.js';

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/**
 * Requires an admin on every route of the plugin it is added to: `Authorization: Bearer <admin
 * token>`, or the session cookie of an OIDC admin sign-in together with the `Gatehouse-Csrf`
 * header (which a page on another origin cannot add without a CORS preflight we never answer).
 */
export function requireAdmin(app: ApiApp, { authority, adminSignIn }: ApiContext): void {
  app.decorateRequest('actor', '');
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
    if (!header && adminSignIn && request.headers.cookie?.includes(`${ADMIN_SESSION_COOKIE}=`)) {
      const admin = await verifyAdminSession({
        config: adminSignIn,
        cookieHeader: request.headers.cookie,
        sessionKey: authority.derivedKey('admin-session'),
        now: authority.now(),
      });
      if (!admin)
        throw new GatehouseError('session_invalid', 'the admin session has ended; sign in again', 401);
      if (request.headers[ADMIN_CSRF_HEADER] !== '1') {
        throw new GatehouseError(
          'csrf_header_missing',
          `cookie sessions must send ${ADMIN_CSRF_HEADER}: 1`,
          403,
        );
      }
      request.actor = `oidc:${admin.email}`;
      return;
    }
    if (!header) {
      reply.header('www-authenticate', 'Bearer realm="gatehouse"');
      throw new GatehouseError('unauthenticated', 'missing Authorization: Bearer <admin token>', 401);
    }
    const match = BEARER.exec(header);
    const token = match ? await authority.authenticate(match[1] as string) : undefined;
    if (!token) {
      reply.header('www-authenticate', 'Bearer realm="gatehouse", error="invalid_token"');
      throw new GatehouseError('invalid_token', 'the bearer token is not valid', 401);
    }
    request.actor = `token:${token.id}`;
  });
}
