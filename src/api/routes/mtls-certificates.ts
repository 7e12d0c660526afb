import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context.js';
import { Envelope, ListEnvelope, ok, okList, Pagination, toPage } from '../envelope.js';
import { MtlsCertificate, mtlsCertificateView } from '../views.js';

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const mtlsCertificateRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { authority }) => {
  app.post(
    '/mtls_certificates',
    {
      schema: {
        tags: ['mTLS certificates'],
        summary: 'Upload a CA (PEM chain) that client certificates may chain to',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200 }),
            certificates: Type.String({
              minLength: 1,
              maxLength: 1_000_000,
              description: 'PEM chain; every certificate must be a CA',
            }),
            ca: Type.Literal(true, { description: 'must be true: only CA certificates are accepted' }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Envelope(MtlsCertificate) },
      },
    },
    async (request, reply) => {
      const ca = await authority.uploadCa(
        { name: request.body.name, certificatesPem: request.body.certificates },
        request.actor,
      );
      return reply.status(201).send(ok(mtlsCertificateView(ca)));
    },
  );

  app.get(
    '/mtls_certificates',
    {
      schema: {
        tags: ['mTLS certificates'],
        summary: 'List uploaded CAs and the organization CA',
        querystring: Pagination,
        response: { 200: ListEnvelope(MtlsCertificate) },
      },
    },
    async (request) => {
      const { items, total } = await authority.listCas(toPage(request.query));
      return okList(items.map(mtlsCertificateView), total, request.query);
    },
  );

  app.get(
    '/mtls_certificates/:id',
    {
      schema: {
        tags: ['mTLS certificates'],
        summary: 'Get one CA',
        params: IdParams,
        response: { 200: Envelope(MtlsCertificate) },
      },
    },
    async (request) => ok(mtlsCertificateView(await authority.getCa(request.params.id))),
  );

  app.delete(
    '/mtls_certificates/:id',
    {
      schema: {
        tags: ['mTLS certificates'],
        summary: 'Delete an uploaded CA (409 while anything references it)',
        params: IdParams,
        response: { 200: Envelope(Type.Object({ id: Type.String() })) },
      },
    },
    async (request) => {
      await authority.deleteCa(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );
};
