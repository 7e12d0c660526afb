/** The edge: hostnames (admin side) and the data plane that enforces them. */
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
export { type HostnameInput, type HostnameRecord, HostnameService } from './hostnames.js';
export { CONFIG_POLL_MS } from './loader.js';
export { type RunningEdge, SHUTDOWN_GRACE_MS, startEdge } from './runtime.js';
export {
  type EdgeCluster,
  type EdgeWorkerOptions,
  type EdgeWorkersStatus,
  startEdgeCluster,
  workerReadyMessage,
} from './cluster.js';
