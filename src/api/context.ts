import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { Authority } from '../authority/index.js';
import type { AdminSignInConfig } from '../access/index.js';
import type { EdgeWorkersStatus } from '../edge/index.js';
import type { Metrics } from '../observability/index.js';
import type { Services } from './services.js';

/** What every route plugin receives: the domain service and the metrics registry. */
export interface ApiContext extends Services {
  authority: Authority;
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
