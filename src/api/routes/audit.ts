import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../context.js';
import { ListEnvelope, okList, Pagination, toPage } from '../envelope.js';
import { AuditView, auditView } from '../views.js';

export const auditRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { authority }) => {
  app.get(
    '/audit',
    {
      schema: {
        tags: ['Audit'],
        summary: 'Every admin change, newest first',
        querystring: Type.Composite([
          Pagination,
          Type.Object({ resource_id: Type.Optional(Type.String()), action: Type.Optional(Type.String()) }),
        ]),
        response: { 200: ListEnvelope(AuditView) },
      },
    },
    async (request) => {
      const { items, total } = await authority.listAudit(
        { resourceId: request.query.resource_id, action: request.query.action },
        toPage(request.query),
      );
      return okList(items.map(auditView), total, request.query);
    },
  );
};
