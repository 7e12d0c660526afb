import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { crlUrl, ORG_CA_ID, ORG_ROOT_CA_ID } from '../../authority/index.js';
import type { ApiContext } from '../context.js';
import { Envelope, ok } from '../envelope.js';

export const organizationRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { authority }) => {
  app.get(
    '/organization',
    {
      schema: {
        tags: ['Organization'],
        summary: 'The organization, its CA chain and CRL locations',
        response: {
          200: Envelope(
            Type.Object({
              id: Type.String(),
              name: Type.String(),
              created_on: Type.String({ format: 'date-time' }),
              ca_id: Type.String({
                description: 'the issuing CA, usable wherever an mTLS certificate id is',
              }),
              root_ca_id: Type.String(),
              ca_chain: Type.String({ description: 'PEM: issuing CA, then root CA' }),
              crl_urls: Type.Array(Type.String()),
            }),
          ),
        },
      },
    },
    async () => {
      const { org } = authority;
      return ok({
        id: org.id,
        name: org.name,
        created_on: org.created_at,
        ca_id: ORG_CA_ID,
        root_ca_id: ORG_ROOT_CA_ID,
        ca_chain: await authority.orgCaChainPem(),
        crl_urls: [crlUrl(org.public_url, ORG_CA_ID), crlUrl(org.public_url, ORG_ROOT_CA_ID)],
      });
    },
  );
};
