/**
 * The edge's data plane (the TLS server, its workers, their runtime) and the client-auth model it
 * shares with the admin side. The admin side (the hostname service) is ./admin/index.ts, as the
 * posture control plane is posture/server.ts: an edge worker never loads it.
 */
export {
  BlockResponse,
  CERTIFICATE_FIELDS,
  CLIENT_AUTH_MODES,
  ClientAuthInput,
  ForwardConfig,
  HEADER_STYLES,
  type StoredClientAuth,
} from './client-auth.js';
export { EDGE_OWNED_HEADERS, renderCertificateHeaders } from './headers.js';
export { CONFIG_POLL_MS } from './loader.js';
export { type RunningEdge, SHUTDOWN_GRACE_MS, startEdge } from './runtime.js';
export {
  type EdgeCluster,
  type EdgeWorkerOptions,
  type EdgeWorkersStatus,
  startEdgeCluster,
  workerReadyMessage,
} from './cluster.js';
