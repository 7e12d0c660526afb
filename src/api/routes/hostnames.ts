import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { X509Certificate } from 'node:crypto';
import type { HostnameRecord } from '../../edge/admin/index.js';
import { BlockResponse, ClientAuthInput, ForwardConfig } from '../../edge/index.js';
import type { ApiContext } from '../context.js';
import { Envelope, ListEnvelope, ok, okList, Pagination, toPage } from '../envelope.js';

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

const HostnameBody = Type.Object(
  {
    hostname: Type.String({ minLength: 1, maxLength: 253 }),
    origin: Type.String({ minLength: 1, maxLength: 2048, description: 'e.g. http://127.0.0.1:9000' }),
    tls: Type.Optional(
      Type.Object(
        {
          certificate: Type.String({
            minLength: 1,
            maxLength: 200_000,
            description: 'PEM, leaf first then chain',
          }),
          private_key: Type.String({ minLength: 1, maxLength: 20_000 }),
        },
        {
          additionalProperties: false,
          description: 'without it, the organization CA issues the server certificate',
        },
      ),
    ),
    client_auth: ClientAuthInput,
  },
  { additionalProperties: false },
);

const HostnameView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    hostname: Type.String(),
    origin: Type.String(),
    tls: Type.Object({
      source: Type.Union([Type.Literal('org'), Type.Literal('custom')]),
      certificate: Type.String(),
      expires_on: Type.String({ format: 'date-time' }),
    }),
    client_auth: Type.Object({
      mode: ClientAuthInput.properties.mode,
      mtls_certificate_ids: Type.Array(Type.String()),
      forward: ForwardConfig,
      block_response: BlockResponse,
      required_policies: Type.Array(Type.String()),
    }),
    created_on: Type.String({ format: 'date-time' }),
    modified_on: Type.String({ format: 'date-time' }),
  },
  { $id: 'Hostname' },
);

function view({ row, caIds, clientAuth }: HostnameRecord) {
  return {
    id: row.id,
    hostname: row.hostname,
    origin: row.origin,
    tls: {
      source: row.tls_source,
      certificate: row.certificate_pem + row.chain_pem,
      expires_on: new Date(new X509Certificate(row.certificate_pem).validTo).toISOString(),
    },
    client_auth: {
      mode: clientAuth.mode,
      mtls_certificate_ids: caIds,
      forward: clientAuth.forward,
      block_response: clientAuth.block_response,
      required_policies: clientAuth.required_policies ?? [],
    },
    created_on: row.created_at,
    modified_on: row.updated_at,
  };
}

export const hostnameRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { hostnames }) => {
  const tags = ['Hostnames'];

  app.post(
    '/hostnames',
    {
      schema: {
        tags,
        summary: 'Put a hostname behind the edge',
        body: HostnameBody,
        response: { 201: Envelope(HostnameView) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(ok(view(await hostnames.create(request.body, request.actor)))),
  );

  app.get(
    '/hostnames',
    {
      schema: {
        tags,
        summary: 'List hostnames',
        querystring: Pagination,
        response: { 200: ListEnvelope(HostnameView) },
      },
    },
    async (request) => {
      const { items, total } = await hostnames.list(toPage(request.query));
      return okList(items.map(view), total, request.query);
    },
  );

  app.get(
    '/hostnames/:id',
    {
      schema: {
        tags,
        summary: 'Get a hostname',
        params: IdParams,
        response: { 200: Envelope(HostnameView) },
      },
    },
    async (request) => ok(view(await hostnames.get(request.params.id))),
  );

  app.put(
    '/hostnames/:id',
    {
      schema: {
        tags,
        summary: "Replace a hostname's settings (running edges pick them up within a second)",
        params: IdParams,
        body: HostnameBody,
        response: { 200: Envelope(HostnameView) },
      },
    },
    async (request) => ok(view(await hostnames.update(request.params.id, request.body, request.actor))),
  );

  app.delete(
    '/hostnames/:id',
    {
      schema: {
        tags,
        summary: 'Remove a hostname from the edge',
        params: IdParams,
        response: { 200: Envelope(Type.Object({ id: Type.String() })) },
      },
    },
    async (request) => {
      await hostnames.delete(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );
};
