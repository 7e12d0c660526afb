import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import {
  clearAdminSessionCookie,
  completeAdminLogin,
  LOGIN_STATE_KEY,
  loginIdp,
  startAdminLogin,
} from '../../access/index.js';
import { recordChange } from '../../authority/index.js';
import { GatehouseError, isGatehouseError } from '../../errors/index.js';
import type { ApiContext } from '../context.js';
import { Envelope, ok } from '../envelope.js';

const tags = ['Admin sign-in'];
/** The control plane as the browser reached it (the redirect URI registered at the IdP). */
const originOf = (request: FastifyRequest) => `https://${request.headers.host ?? request.hostname}`;

/** Unauthenticated: how admins may sign in, the OIDC login itself, and sign-out. */
export const adminSignInRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (
  app,
  { authority, access, adminSignIn },
) => {
  const configuredIdp = async () => {
    if (!adminSignIn)
      throw new GatehouseError('admin_oidc_disabled', 'admin OIDC sign-in is not configured', 404);
    const row = await access.getIdentityProvider(adminSignIn.identityProviderId);
    return loginIdp(row, (sealed, aad) => authority.openKey(sealed, aad));
  };

  app.get(
    '/admin/sign_in',
    {
      schema: {
        tags,
        summary: 'How admins can sign in to the console',
        security: [],
        response: {
          200: Envelope(
            Type.Object({
              token: Type.Literal(true),
              oidc: Type.Union([
                Type.Object({ identity_provider: Type.String(), login_url: Type.String() }),
                Type.Null(),
              ]),
            }),
          ),
        },
      },
    },
    async () => {
      let oidc = null;
      if (adminSignIn) {
        const idp = await authority.store.identityProviders.get(adminSignIn.identityProviderId);
        if (idp) oidc = { identity_provider: idp.name, login_url: '/api/v1/admin/oidc/login' };
      }
      return ok({ token: true as const, oidc });
    },
  );

  app.get(
    '/admin/oidc/login',
    {
      schema: {
        tags,
        summary: "Redirect to the org's identity provider to sign in as an admin",
        security: [],
      },
    },
    async (request, reply) => {
      const idp = await configuredIdp();
      const login = await startAdminLogin({
        idp,
        origin: originOf(request),
        stateKey: authority.derivedKey(LOGIN_STATE_KEY),
        now: authority.now(),
      });
      return reply.header('set-cookie', login.setCookie).redirect(login.redirect, 302);
    },
  );

  app.get(
    '/admin/oidc/callback',
    {
      schema: {
        tags,
        summary: "The identity provider's redirect back: sets the admin session cookie",
        security: [],
      },
    },
    async (request, reply) => {
      try {
        const idp = await configuredIdp();
        const now = authority.now();
        const done = await completeAdminLogin({
          config: adminSignIn as NonNullable<typeof adminSignIn>,
          idp,
          origin: originOf(request),
          callbackUrl: request.url,
          cookieHeader: request.headers.cookie,
          stateKey: authority.derivedKey(LOGIN_STATE_KEY),
          sessionKey: authority.derivedKey('admin-session'),
          now,
        });
        await authority.store.transaction((tx) =>
          recordChange(
            tx,
            {
              actor: `oidc:${done.identity.email}`,
              action: 'admin.sign_in',
              resourceType: 'admin_session',
              resourceId: idp.id,
              before: null,
              after: { email: done.identity.email, identity_provider: idp.name },
            },
            now,
          ),
        );
        return reply.header('set-cookie', done.setCookie).redirect('/', 302);
      } catch (err) {
        // Back to the sign-in page with the reason (a code, never a credential) to show.
        const code = isGatehouseError(err) && err.status < 500 ? err.code : 'sign_in_failed';
        if (!isGatehouseError(err) || err.status >= 500) request.log.warn({ err }, 'admin sign-in failed');
        return reply.redirect(`/sign-in?error=${encodeURIComponent(code)}`, 302);
      }
    },
  );

  app.post(
    '/admin/sign_out',
    {
      schema: {
        tags,
        summary: 'End the OIDC admin session (clears its cookie)',
        security: [],
        response: { 200: Envelope(Type.Object({ signed_out: Type.Boolean() })) },
      },
    },
    async (_request, reply) =>
      reply.header('set-cookie', clearAdminSessionCookie()).send(ok({ signed_out: true })),
  );
};

/** Authenticated: who the caller is. */
export const adminSessionRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app) => {
  app.get(
    '/admin/session',
    {
      schema: {
        tags,
        summary: 'The signed-in admin',
        response: {
          200: Envelope(
            Type.Object({
              actor: Type.String({ description: '`token:<id>` or `oidc:<email>`, as in the audit log' }),
              method: Type.Union([Type.Literal('token'), Type.Literal('oidc')]),
            }),
          ),
        },
      },
    },
    async (request) =>
      ok({
        actor: request.actor,
        method: request.actor.startsWith('oidc:') ? ('oidc' as const) : ('token' as const),
      }),
  );
};
