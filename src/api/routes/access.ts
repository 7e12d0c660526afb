import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  AccessAppInput,
  IdentityProviderInput,
  Policy,
  SessionRevocationInput,
  sessionRevocationView as revocationView,
} from '../../access/index.js';
import type { AccessApp, IdentityProvider, ServiceToken } from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { Envelope, ok } from '../envelope.js';

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const Deleted = Envelope(Type.Object({ id: Type.String() }));
const List = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Envelope(Type.Array(item));

const AppView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    domain: Type.String(),
    aud: Type.String({ description: "audience tag: the `aud` of this application's tokens" }),
    session_duration: Type.String(),
    policies: Type.Array(Policy),
    allowed_idps: Type.Array(Type.String()),
    created_on: Type.String({ format: 'date-time' }),
    modified_on: Type.String({ format: 'date-time' }),
  },
  { $id: 'AccessApp' },
);
const appView = (a: AccessApp) => ({
  id: a.id,
  name: a.name,
  domain: a.path_prefix === '/' ? a.hostname : `${a.hostname}${a.path_prefix}`,
  aud: a.aud,
  session_duration: a.session_duration,
  policies: a.policies as Policy[],
  allowed_idps: a.allowed_idps,
  created_on: a.created_at,
  modified_on: a.updated_at,
});

const TokenView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    client_id: Type.String(),
    client_secret: Type.Optional(Type.String({ description: 'only in the responses to create and rotate' })),
    expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    created_at: Type.String({ format: 'date-time' }),
    rotated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'ServiceToken' },
);
const tokenView = (t: ServiceToken, clientSecret?: string) => ({
  id: t.id,
  name: t.name,
  client_id: t.client_id,
  ...(clientSecret ? { client_secret: clientSecret } : {}),
  expires_at: t.expires_at,
  created_at: t.created_at,
  rotated_at: t.rotated_at,
});

const IdpView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    type: Type.Literal('oidc'),
    issuer: Type.String(),
    client_id: Type.String(),
    scopes: Type.Array(Type.String()),
    claims: Type.Object({ email: Type.String(), groups: Type.String() }),
    created_on: Type.String({ format: 'date-time' }),
    modified_on: Type.String({ format: 'date-time' }),
  },
  { $id: 'IdentityProvider', description: 'the client secret is never returned' },
);
const idpView = (i: IdentityProvider) => ({
  id: i.id,
  name: i.name,
  type: i.type,
  issuer: i.issuer,
  client_id: i.client_id,
  scopes: i.scopes,
  claims: i.claims,
  created_on: i.created_at,
  modified_on: i.updated_at,
});

const RevocationView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    app_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    user: Type.Union([Type.String(), Type.Null()]),
    device_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    registration_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
    certificates: Type.Union([
      Type.Array(Type.String(), {
        description: 'SHA-256 (hex) of the certificates revoked sessions are bound to',
      }),
      Type.Null(),
    ]),
    revoked_at: Type.String({
      format: 'date-time',
      description: 'sessions issued at or before this instant (whole seconds) are refused',
    }),
  },
  { $id: 'SessionRevocation' },
);
export const accessRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { access }) => {
  const apps = ['Access applications'];
  app.post(
    '/access/apps',
    {
      schema: {
        tags: apps,
        summary: 'Create an application',
        body: AccessAppInput,
        response: { 201: Envelope(AppView) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(ok(appView(await access.createApp(request.body, request.actor)))),
  );
  app.get(
    '/access/apps',
    { schema: { tags: apps, summary: 'List applications', response: { 200: List(AppView) } } },
    async () => ok((await access.listApps()).map(appView)),
  );
  app.get(
    '/access/apps/:id',
    {
      schema: {
        tags: apps,
        summary: 'Get an application',
        params: IdParams,
        response: { 200: Envelope(AppView) },
      },
    },
    async (request) => ok(appView(await access.getApp(request.params.id))),
  );
  app.put(
    '/access/apps/:id',
    {
      schema: {
        tags: apps,
        summary: 'Replace an application',
        params: IdParams,
        body: AccessAppInput,
        response: { 200: Envelope(AppView) },
      },
    },
    async (request) => ok(appView(await access.updateApp(request.params.id, request.body, request.actor))),
  );
  app.delete(
    '/access/apps/:id',
    {
      schema: { tags: apps, summary: 'Delete an application', params: IdParams, response: { 200: Deleted } },
    },
    async (request) => {
      await access.deleteApp(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );

  const tokens = ['Service tokens'];
  app.post(
    '/access/service_tokens',
    {
      schema: {
        tags: tokens,
        summary: 'Create a service token (the secret is shown once)',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200 }),
            duration: Type.Optional(Type.String({ description: 'e.g. "8760h" (default), at most 5 years' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Envelope(TokenView) },
      },
    },
    async (request, reply) => {
      const created = await access.createServiceToken(request.body, request.actor);
      return reply.status(201).send(ok(tokenView(created.token, created.clientSecret)));
    },
  );
  app.get(
    '/access/service_tokens',
    { schema: { tags: tokens, summary: 'List service tokens', response: { 200: List(TokenView) } } },
    async () => ok((await access.listServiceTokens()).map((t) => tokenView(t))),
  );
  app.post(
    '/access/service_tokens/:id/rotate',
    {
      schema: {
        tags: tokens,
        summary: 'New secret, same client id; the old secret stops working',
        params: IdParams,
        response: { 200: Envelope(TokenView) },
      },
    },
    async (request) => {
      const rotated = await access.rotateServiceToken(request.params.id, request.actor);
      return ok(tokenView(rotated.token, rotated.clientSecret));
    },
  );
  app.delete(
    '/access/service_tokens/:id',
    {
      schema: {
        tags: tokens,
        summary: 'Revoke a service token',
        params: IdParams,
        response: { 200: Deleted },
      },
    },
    async (request) => {
      await access.revokeServiceToken(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );

  const sessions = ['Access sessions'];
  app.post(
    '/access/sessions/revocations',
    {
      schema: {
        tags: sessions,
        summary:
          'Revoke sessions (by application, user, device, registration or certificate; selectors combine)',
        body: SessionRevocationInput,
        response: { 201: Envelope(RevocationView) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(ok(revocationView(await access.revokeSessions(request.body, request.actor)))),
  );
  app.get(
    '/access/sessions/revocations',
    {
      schema: {
        tags: sessions,
        summary: 'List session revocations that can still match an unexpired session',
        response: { 200: List(RevocationView) },
      },
    },
    async () => ok((await access.listSessionRevocations()).map(revocationView)),
  );

  const idps = ['Identity providers'];
  app.post(
    '/identity_providers',
    {
      schema: {
        tags: idps,
        summary: 'Add an OIDC identity provider',
        body: IdentityProviderInput,
        response: { 201: Envelope(IdpView) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(ok(idpView(await access.createIdentityProvider(request.body, request.actor)))),
  );
  app.get(
    '/identity_providers',
    { schema: { tags: idps, summary: 'List identity providers', response: { 200: List(IdpView) } } },
    async () => ok((await access.listIdentityProviders()).map(idpView)),
  );
  app.get(
    '/identity_providers/:id',
    {
      schema: {
        tags: idps,
        summary: 'Get an identity provider',
        params: IdParams,
        response: { 200: Envelope(IdpView) },
      },
    },
    async (request) => ok(idpView(await access.getIdentityProvider(request.params.id))),
  );
  app.put(
    '/identity_providers/:id',
    {
      schema: {
        tags: idps,
        summary: 'Replace an identity provider',
        params: IdParams,
        body: IdentityProviderInput,
        response: { 200: Envelope(IdpView) },
      },
    },
    async (request) =>
      ok(idpView(await access.updateIdentityProvider(request.params.id, request.body, request.actor))),
  );
  app.delete(
    '/identity_providers/:id',
    {
      schema: {
        tags: idps,
        summary: 'Delete an identity provider (409 while an application allows it)',
        params: IdParams,
        response: { 200: Deleted },
      },
    },
    async (request) => {
      await access.deleteIdentityProvider(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );
};
