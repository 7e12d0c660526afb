export { API_VERSION_PREFIX, type ApiOptions, buildApi } from './app.js';
export { IDEMPOTENCY_TTL_MS } from './concurrency.js';
export { type RunningApi, startApiServer } from './server.js';
export { createServices, type Services } from './services.js';
