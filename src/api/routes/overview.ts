import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context.js';
import { Envelope, ok } from '../envelope.js';
import { edgeRequestsByCertStatus, expiryBuckets } from '../overview.js';

const DAYS = 90;
const BUCKET_DAYS = 7;

const OverviewView = Type.Object(
  {
    generated_on: Type.String({ format: 'date-time' }),
    certificates_expiring: Type.Object({
      days: Type.Integer(),
      bucket_days: Type.Integer(),
      buckets: Type.Array(
        Type.Object({
          start: Type.String({ format: 'date-time' }),
          end: Type.String({ format: 'date-time' }),
          client_certificates: Type.Integer({ description: 'active client certificates expiring then' }),
          certificate_authorities: Type.Integer({
            description: 'uploaded and organization CAs expiring then',
          }),
        }),
      ),
    }),
    edge_requests: Type.Array(Type.Object({ cert_status: Type.String(), count: Type.Number() }), {
      description: 'edge requests by client-certificate status since the edge workers started',
    }),
  },
  { $id: 'Overview' },
);

/** Read-only numbers for the console's overview charts. */
export const overviewRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { authority, metrics }) => {
  app.get(
    '/overview',
    {
      schema: {
        tags: ['Overview'],
        summary: 'Certificates expiring over the next 90 days, edge requests by certificate status',
        response: { 200: Envelope(OverviewView) },
      },
    },
    async () => {
      const now = authority.now();
      const until = new Date(now.getTime() + DAYS * 24 * 3600 * 1000);
      const [certs, cas, text] = await Promise.all([
        authority.store.clientCertificates.expiringBetween(now.toISOString(), until.toISOString()),
        authority.store.authorities.all(),
        metrics.render(),
      ]);
      return ok({
        generated_on: now.toISOString(),
        certificates_expiring: {
          days: DAYS,
          bucket_days: BUCKET_DAYS,
          buckets: expiryBuckets(
            now,
            DAYS,
            BUCKET_DAYS,
            certs,
            cas.map((c) => c.not_after),
          ),
        },
        edge_requests: edgeRequestsByCertStatus(text),
      });
    },
  );
};
