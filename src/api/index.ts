export { API_VERSION_PREFIX, type ApiOptions, buildApi } from './app.js';
export { type RunningApi, startApiServer } from './server.js';
