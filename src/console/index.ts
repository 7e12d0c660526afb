/** The admin console: the built single-page app (dist/web) served by the control plane at `/`. */
export { CONSOLE_CSP, type ConsoleFile, resolveConsolePath, serveConsole } from './static.js';
