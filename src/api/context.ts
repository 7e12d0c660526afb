import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Authority } from '../authority/index.js';
import type { AccessService, AdminSignInConfig } from '../access/index.js';
import type { DeviceService } from '../devices/index.js';
import type { HostnameService } from '../edge/admin/index.js';
import type { EdgeWorkersStatus } from '../edge/index.js';
import type { Metrics } from '../observability/index.js';
import type { PostureService } from '../posture/server.js';

/** What every route plugin receives: the domain service and the metrics registry. */
export interface ApiContext {
  authority: Authority;
  hostnames: HostnameService;
  access: AccessService;
  devices: DeviceService;
  posture: PostureService;
  metrics: Metrics;
  /** Admin sign-in with the org's OIDC provider, when the operator configured it. */
  adminSignIn?: AdminSignInConfig;
  /** The edge workers of this node (serve), reported by /readyz. */
  edgeStatus?: () => EdgeWorkersStatus;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on authenticated routes: `token:<id>` or `oidc:<email>`. */
    actor: string;
  }
}

export type ApiApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;
