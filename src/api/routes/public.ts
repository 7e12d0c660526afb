import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { jwks, publicKeysFromRows } from '../../access/index.js';
import { notFound } from '../../errors/index.js';
import type { ApiContext } from '../context.js';

const CRL_FILE = /^([0-9a-f-]{36})\.crl$/i;

/** Unauthenticated endpoints: health, metrics and CRLs (relying parties fetch CRLs anonymously). */
export const publicRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (
  app,
  { authority, metrics, edgeStatus },
) => {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));

  // Ready when the database answers and (under serve) every edge worker listens; the body says
  // which part is missing so a load balancer's health check and an operator read the same thing.
  app.get('/readyz', { schema: { hide: true } }, async (_request, reply) => {
    const database = await authority.store.organizations.first().then(
      () => 'up' as const,
      () => 'unreachable' as const,
    );
    const edge = edgeStatus?.();
    const edgeReady = !edge || edge.ready >= edge.expected;
    const body = {
      status: database === 'up' && edgeReady ? 'ready' : 'unavailable',
      database,
      ...(edge ? { edge_workers: edge } : {}),
    };
    return reply.status(body.status === 'ready' ? 200 : 503).send(body);
  });

  // Origins verify Gatehouse-Jwt-Assertion tokens with these keys (also served by the edge).
  app.get(
    '/.well-known/jwks.json',
    { schema: { tags: ['Access applications'], summary: 'Public keys of the access-token signers' } },
    async (_request, reply) => {
      const rows = await authority.store.signingKeys.all();
      reply.header('cache-control', 'public, max-age=300');
      return jwks(publicKeysFromRows(rows), authority.now());
    },
  );

  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.render()),
  );

  app.get(
    '/crl/:file',
    {
      schema: {
        tags: ['Revocation'],
        summary: "The CA's current CRL, DER encoded (application/pkix-crl)",
        params: Type.Object({ file: Type.String({ pattern: '^[0-9a-fA-F-]{36}\\.crl$' }) }),
      },
    },
    async (request, reply) => {
      const caId = CRL_FILE.exec(request.params.file)?.[1]?.toLowerCase();
      if (!caId) throw notFound('CRL', request.params.file);
      const crl = await authority.crl(caId);
      const etag = `"${caId}-${crl.crlNumber}"`;
      // Caches may keep it until the next scheduled update, but no longer than an hour so a
      // revocation is seen promptly by relying parties that honour max-age.
      const maxAge = Math.max(0, Math.min(3600, Math.floor((crl.nextUpdate.getTime() - Date.now()) / 1000)));
      reply
        .header('content-type', 'application/pkix-crl')
        .header('cache-control', `public, max-age=${maxAge}`)
        .header('etag', etag)
        .header('last-modified', crl.thisUpdate.toUTCString())
        .header('expires', crl.nextUpdate.toUTCString());
      if (request.headers['if-none-match'] === etag) return reply.status(304).send();
      return reply.send(crl.der);
    },
  );
};
