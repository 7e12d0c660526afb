import { GatehouseError } from '../errors/index.js';
import type { ApiApp, ApiContext } from './context.js';

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/** Requires `Authorization: Bearer <admin token>` on every route of the plugin it is added to. */
export function requireAdmin(app: ApiApp, { authority }: ApiContext): void {
  app.decorateRequest('actor', '');
  app.addHook('onRequest', async (request, reply) => {
    const header = request.headers.authorization;
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
