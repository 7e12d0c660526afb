import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};

/**
 * The console's own pages: scripts and styles from this origin only, never framed, no referrer.
 * Inline style attributes are allowed (React renders chart sizes with them); inline scripts are not.
 */
export const CONSOLE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Paths the console never answers: the API, CRLs, health and metrics keep their own 404s. */
const NOT_CONSOLE = /^\/(api|crl|metrics|healthz|readyz|\.well-known)(\/|$)/;

export interface ConsoleFile {
  path: string;
  /** Vite's content-hashed bundles under /assets/ never change under the same name. */
  immutable: boolean;
}

/**
 * Pure: which file under `root` answers a GET of `urlPath`, or undefined for "not a console path".
 * Paths with a file extension must name a file; others fall back to index.html (client-side
 * routes). Anything escaping `root` is refused.
 */
export function resolveConsolePath(root: string, urlPath: string): ConsoleFile | 'index' | undefined {
  if (NOT_CONSOLE.test(urlPath)) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  const file = normalize(join(root, decoded));
  if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined;
  if (decoded === '/' || extname(decoded) === '') return 'index';
  return { path: file, immutable: decoded.startsWith('/assets/') };
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

/**
 * Serves the built console (`dist/web`) at `/`: files with their type, hashed assets cached for a
 * year, index.html revalidated every time, and index.html for any other extension-less GET so the
 * browser's routes (/certificates, /logs/posture, …) survive a reload. Without a build it says so.
 */
export function serveConsole(app: FastifyInstance, webRoot: string): void {
  const root = resolve(webRoot);
  const sendIndex = async (reply: FastifyReply) => {
    let html: Buffer;
    try {
      html = await readFile(join(root, 'index.html'));
    } catch {
      return securityHeaders(reply)
        .status(404)
        .type('text/plain; charset=utf-8')
        .send('The console is not built: run `npm run build` (it writes dist/web).\n');
    }
    return securityHeaders(reply)
      .header('cache-control', 'no-cache')
      .type(TYPES['.html'] as string)
      .send(html);
  };

  app.route({
    method: ['GET', 'HEAD'],
    url: '/*',
    schema: { hide: true },
    handler: async (request, reply) => {
      const urlPath = request.url.split('?')[0] ?? '/';
      const target = resolveConsolePath(root, urlPath);
      if (target === undefined) return reply.callNotFound();
      if (target === 'index') return sendIndex(reply);
      try {
        const info = await stat(target.path);
        if (!info.isFile()) return reply.callNotFound();
        const body = await readFile(target.path);
        return securityHeaders(reply)
          .header('cache-control', target.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
          .type(TYPES[extname(target.path)] ?? 'application/octet-stream')
          .send(body);
      } catch {
        return reply.callNotFound();
      }
    },
  });
  app.get('/', { schema: { hide: true } }, async (_request, reply) => sendIndex(reply));
}
