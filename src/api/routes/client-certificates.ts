import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { MAX_VALIDITY_DAYS } from '../../authority/index.js';
import type { ApiContext } from '../context.js';
import { Envelope, ListEnvelope, ok, okList, Pagination, toPage } from '../envelope.js';
import { CertificateStatus, ClientCertificateView, CrlReason, clientCertificateView } from '../views.js';

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const clientCertificateRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (
  app,
  { authority, devices, metrics },
) => {
  const view = async (cert: Parameters<typeof clientCertificateView>[0]) =>
    clientCertificateView(cert, await authority.orgCaChainPem(), authority.now());

  app.post(
    '/client_certificates',
    {
      schema: {
        tags: ['Client certificates'],
        summary: 'Issue a client certificate from a CSR',
        description:
          'The CSR proves possession of the key; only its public key is used. Gatehouse chooses the subject: ' +
          'CN is `common_name` when given, else the certificate id; O is the organization; the SAN carries the certificate id as a URN.',
        body: Type.Object(
          {
            csr: Type.String({ minLength: 1, maxLength: 100_000, description: 'PKCS#10 CSR, PEM' }),
            validity_days: Type.Integer({ minimum: 1, maximum: MAX_VALIDITY_DAYS, default: 90 }),
            common_name: Type.Optional(
              Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\x00-\\x1f\\x7f]+$' }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Envelope(ClientCertificateView) },
      },
    },
    async (request, reply) => {
      const cert = await authority.issueFromCsr(
        {
          csrPem: request.body.csr,
          validityDays: request.body.validity_days,
          commonName: request.body.common_name,
        },
        request.actor,
      );
      metrics.certificatesIssued.inc();
      return reply.status(201).send(ok(await view(cert)));
    },
  );

  app.get(
    '/client_certificates',
    {
      schema: {
        tags: ['Client certificates'],
        summary: 'List issued client certificates',
        querystring: Type.Composite([Pagination, Type.Object({ status: Type.Optional(CertificateStatus) })]),
        response: { 200: ListEnvelope(ClientCertificateView) },
      },
    },
    async (request) => {
      const { items, total } = await authority.listClientCertificates(
        request.query.status,
        toPage(request.query),
      );
      return okList(await Promise.all(items.map(view)), total, request.query);
    },
  );

  app.get(
    '/client_certificates/:id',
    {
      schema: {
        tags: ['Client certificates'],
        summary: 'Get one client certificate',
        params: IdParams,
        response: { 200: Envelope(ClientCertificateView) },
      },
    },
    async (request) => ok(await view(await authority.getClientCertificate(request.params.id))),
  );

  app.delete(
    '/client_certificates/:id',
    {
      schema: {
        tags: ['Client certificates'],
        summary: 'Revoke a client certificate (?reason=keyCompromise…); the CRL is re-signed at once',
        params: IdParams,
        querystring: Type.Object({ reason: Type.Optional(CrlReason) }, { additionalProperties: false }),
        response: { 200: Envelope(ClientCertificateView) },
      },
    },
    async (request) => {
      const cert = await authority.revokeClientCertificate(
        request.params.id,
        request.query.reason ?? 'unspecified',
        request.actor,
      );
      metrics.certificatesRevoked.inc();
      // A device's registration certificate: the registration ends with it (docs/devices.md).
      await devices.certificateRevoked(cert.id, request.actor);
      return ok(await view(cert));
    },
  );
};
