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
            allow_sha1_signatures: Type.Optional(
              Type.Boolean({
                description:
                  'legacy escape hatch, this CA only (default false): accept SHA-1 signatures on certificates and CRLs of paths ending at it',
              }),
            ),
            allow_rsa_1024: Type.Optional(
              Type.Boolean({
                description:
                  'legacy escape hatch, this CA only (default false): accept RSA keys from 1024 bits',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Envelope(MtlsCertificate) },
      },
    },
    async (request, reply) => {
      const ca = await authority.uploadCa(
        {
          name: request.body.name,
          certificatesPem: request.body.certificates,
          allowSha1Signatures: request.body.allow_sha1_signatures,
          allowRsa1024: request.body.allow_rsa_1024,
        },
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
  const CrlView = Type.Object({
    mtls_certificate_id: Type.String(),
    issuer_fingerprint_sha256: Type.String(),
    this_update: Type.String({ format: 'date-time' }),
    next_update: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    revoked_count: Type.Integer(),
    attached_on: Type.String({ format: 'date-time' }),
  });
  const crlView = (crl: Awaited<ReturnType<typeof authority.getAttachedCrl>>) => ({
    mtls_certificate_id: crl.ca_id,
    issuer_fingerprint_sha256: crl.issuer_fingerprint_sha256,
    this_update: crl.this_update,
    next_update: crl.next_update,
    revoked_count: crl.revoked_count,
    attached_on: crl.attached_at,
  });

  app.put(
    '/mtls_certificates/:id/crl',
    {
      schema: {
        tags: ['mTLS certificates'],
        summary: "Attach (or replace) the CA's CRL: the edge refuses the certificates it lists",
        description:
          'The CRL must be signed by a certificate of the CA chain. Past its nextUpdate the edge fails closed (reason crl_expired).',
        params: IdParams,
        body: Type.Object(
          { crl: Type.String({ minLength: 1, maxLength: 10_000_000, description: 'PEM (X509 CRL)' }) },
          { additionalProperties: false },
        ),
        response: { 200: Envelope(CrlView) },
      },
      bodyLimit: 12 * 1024 * 1024,
    },
    async (request) =>
      ok(crlView(await authority.attachCrl(request.params.id, request.body.crl, request.actor))),
  );

  app.get(
    '/mtls_certificates/:id/crl',
    {
      schema: {
        tags: ['mTLS certificates'],
        summary: 'The attached CRL',
        params: IdParams,
        response: { 200: Envelope(CrlView) },
      },
    },
    async (request) => ok(crlView(await authority.getAttachedCrl(request.params.id))),
  );

  app.delete(
    '/mtls_certificates/:id/crl',
    {
      schema: {
        tags: ['mTLS certificates'],
        summary: 'Detach the CRL',
        params: IdParams,
        response: { 200: Envelope(Type.Object({ id: Type.String() })) },
      },
    },
    async (request) => {
      await authority.detachCrl(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );
};
