import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { serveConsole } from '../console/index.js';
import type { Logger } from '../observability/index.js';
import { requireAdmin } from './auth.js';
import type { ApiApp, ApiContext } from './context.js';
import { installConcurrencyGuards } from './concurrency.js';
import { installErrorHandling } from './errors.js';
import { accessRoutes } from './routes/access.js';
import { adminSessionRoutes, adminSignInRoutes } from './routes/admin.js';
import { auditRoutes } from './routes/audit.js';
import { clientCertificateRoutes } from './routes/client-certificates.js';
import { deviceLoginPages } from './routes/device-login-pages.js';
import { deviceAdminRoutes, deviceRoutes } from './routes/devices.js';
import { hostnameRoutes } from './routes/hostnames.js';
import { mtlsCertificateRoutes } from './routes/mtls-certificates.js';
import { tpmAttestationRoutes, tpmEkCaRoutes } from './routes/tpm-attestation.js';
import { organizationRoutes } from './routes/organization.js';
import { postureAdminRoutes } from './routes/posture.js';
import { overviewRoutes } from './routes/overview.js';
import { publicRoutes } from './routes/public.js';
import { createServices, type Services } from './services.js';

export interface ApiOptions extends Omit<ApiContext, keyof Services> {
  /** The services, built where the server starts; by default from `authority` (tests). */
  services?: Services;
  logger?: Logger;
  /** TLS for the listener. Without it the app is plain HTTP (used by in-process tests via inject). */
  tls?: SecureContextOptions & { requestCert?: boolean };
  /** The built console (dist/web) to serve at `/`; without it only the API is served. */
  webRoot?: string;
}

export const API_VERSION_PREFIX = '/api/v1';

export async function buildApi(options: ApiOptions): Promise<ApiApp> {
  const context: ApiContext = {
    authority: options.authority,
    ...(options.services ?? createServices(options.authority)),
    metrics: options.metrics,
    ...(options.adminSignIn ? { adminSignIn: options.adminSignIn } : {}),
    ...(options.edgeStatus ? { edgeStatus: options.edgeStatus } : {}),
  };
  const tls = options.tls;
  const app: ApiApp = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger | undefined,
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false },
    },
    serverFactory: (handler) =>
      tls
        ? // An https.Server serves the same request/response API; Fastify only types the http one.
          (createHttpsServer(
            {
              ...tls,
              // Ask for a client certificate but never require one: devices with hardware-backed
              // registrations present theirs, admins and standard devices need not.
              requestCert: tls.requestCert ?? true,
              rejectUnauthorized: false,
              minVersion: 'TLSv1.2',
            },
            handler,
          ) as unknown as Server)
        : createHttpServer(handler),
  }).withTypeProvider<TypeBoxTypeProvider>();

  installErrorHandling(app);
  installConcurrencyGuards(app, options.authority.store, () => options.authority.now());

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    context.metrics.httpRequests.inc({ route, method: request.method, status: String(reply.statusCode) });
    context.metrics.httpDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Gatehouse control-plane API',
        version: '1',
        description: 'Responses use the envelope { success, errors: [{ code, message }], messages, result }.',
      },
      components: {
        securitySchemes: {
          adminToken: { type: 'http', scheme: 'bearer' },
          // The console's OIDC admin session; the Gatehouse-Csrf: 1 header must come with it.
          adminSession: { type: 'apiKey', in: 'cookie', name: 'Gatehouse_Admin' },
        },
      },
      security: [{ adminToken: [] }, { adminSession: [] }],
    },
  });

  await app.register(publicRoutes, context);
  await app.register(adminSignInRoutes, { ...context, prefix: API_VERSION_PREFIX });
  app.get(`${API_VERSION_PREFIX}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());

  await app.register(
    async (admin) => {
      requireAdmin(admin, context);
      await admin.register(mtlsCertificateRoutes, context);
      await admin.register(clientCertificateRoutes, context);
      await admin.register(hostnameRoutes, context);
      await admin.register(accessRoutes, context);
      await admin.register(deviceAdminRoutes, context);
      await admin.register(tpmEkCaRoutes, context);
      await admin.register(postureAdminRoutes, context);
      await admin.register(auditRoutes, context);
      await admin.register(organizationRoutes, context);
      await admin.register(adminSessionRoutes, context);
      await admin.register(overviewRoutes, context);
    },
    { prefix: API_VERSION_PREFIX },
  );
  await app.register(deviceRoutes, { ...context, prefix: API_VERSION_PREFIX });
  await app.register(tpmAttestationRoutes, { ...context, prefix: API_VERSION_PREFIX });
  await app.register(deviceLoginPages, context);
  if (options.webRoot) serveConsole(app, options.webRoot);

  return app;
}
