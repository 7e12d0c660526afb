// A lab for attacking the edge: a real `gatehouse serve`, three kinds of origin that record what
// reaches them, and a raw TLS client that sends exactly the bytes a hostile client would.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { adminApi, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { makeCsr } from '../helpers/openssl.js';

export type OriginKind = 'node' | 'raw' | 'wsgi';

/** One request as an origin saw it. Header names lower-case; the WSGI origin's from HTTP_* keys. */
export interface OriginHit {
  origin: OriginKind;
  method: string;
  /** The request target as received (WSGI: the raw path the handler read). */
  target: string;
  headers: Record<string, string>;
  bodyLength: number;
  /** The raw origin: the exact bytes of this request (head and body) as latin1. */
  raw?: string;
}

const ORG_CA_ID = '00000000-0000-4000-8000-000000000001';
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const wsAccept = (key: string) =>
  createHash('sha1')
    .update(key + WS_GUID)
    .digest('base64');

/** An unmasked (server) or masked (client) WebSocket text frame with a payload under 126 bytes. */
export function wsFrame(text: string, masked: boolean): Buffer {
  const payload = Buffer.from(text);
  assert.ok(payload.length < 126);
  if (!masked) return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, body]);
}

/** The text of the first complete WebSocket frame in `buf` (masked or not), if there is one. */
export function wsReadFrame(buf: Buffer): string | undefined {
  if (buf.length < 2) return undefined;
  const masked = ((buf[1] as number) & 0x80) !== 0;
  const len = (buf[1] as number) & 0x7f;
  const start = 2 + (masked ? 4 : 0);
  if (len >= 126 || buf.length < start + len) return undefined;
  const mask = buf.subarray(2, 6);
  const body = buf.subarray(start, start + len);
  return Buffer.from(masked ? body.map((b, i) => b ^ (mask[i % 4] as number)) : body).toString();
}

/** The size of the (complete, short) frame at the start of `buf`. */
export const wsFrameSize = (buf: Buffer) =>
  2 + (((buf[1] as number) & 0x80) !== 0 ? 4 : 0) + ((buf[1] as number) & 0x7f);

/** Head and framed body lengths of the next complete request in `buf`, or undefined. */
function nextRequest(buf: Buffer): { headEnd: number; end: number } | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const head = buf.toString('latin1', 0, headEnd);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  const bodyStart = headEnd + 4;
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    let at = bodyStart;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd === -1) return undefined;
      const size = parseInt(buf.toString('latin1', at, lineEnd), 16);
      if (size === 0) {
        const end = buf.indexOf('\r\n\r\n', lineEnd);
        return end === -1 ? undefined : { headEnd, end: end + 4 };
      }
      at = lineEnd + 2 + size + 2;
      if (at > buf.length) return undefined;
    }
  }
  const end = bodyStart + (cl ? Number(cl[1]) : 0);
  return end <= buf.length ? { headEnd, end } : undefined;
}

function parseHead(head: string): Pick<OriginHit, 'method' | 'target' | 'headers'> {
  const [line = '', ...lines] = head.split('\r\n');
  const [method = '', target = ''] = line.split(' ');
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const colon = l.indexOf(':');
    const name = l.slice(0, colon).toLowerCase();
    const value = l.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, target, headers };
}

const WSGI_APP = String.raw`
import json, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler, WSGIServer
from socketserver import ThreadingMixIn
class Handler(WSGIRequestHandler):
    def log_message(self, *args): pass
    def get_environ(self):
        env = super().get_environ()
        env['RAW_TARGET'] = self.path
        return env
class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
def app(environ, start_response):
    headers = {k: v for k, v in environ.items() if k.startswith('HTTP_')}
    body = json.dumps({'method': environ['REQUEST_METHOD'], 'target': environ['RAW_TARGET'],
                       'headers': headers, 'length': environ.get('CONTENT_LENGTH', '')}).encode()
    print(body.decode(), flush=True)
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
server = make_server('127.0.0.1', 0, app, server_class=Server, handler_class=Handler)
print(server.server_port, flush=True)
server.serve_forever()
`;

export interface EdgeLab {
  server: RunningServer;
  edgePort: number;
  rootPem: string;
  /** A certificate the org CA issued (valid on every hostname). */
  client: { cert: string; key: string };
  hits: OriginHit[];
  api: ReturnType<typeof adminApi>;
  /** Times the edge worker process was replaced, from the primary's log. */
  workerDeaths(): number;
  close(): Promise<void>;
}

/**
 * Hostnames: `node.test`, `raw.test`, `wsgi.test` (report mode, certificate headers in the
 * gatehouse style plus a custom `X-Device-CN`, an Access application on `/admin` with no policies:
 * every request there is denied), `off.test` (mode off, node origin) and `enforce.test`
 * (enforce, node origin).
 */
export async function startEdgeLab(opts: { workers?: number } = {}): Promise<EdgeLab> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-attacks-'));
  const hits: OriginHit[] = [];
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];

  // node:http: records, answers 200; a WebSocket handshake gets a real 101 and an echo.
  const nodeOrigin: Server = createServer((req, res) => {
    if (req.url === '/origin-abort') {
      // An origin that dies mid-response: headers and part of the body, then a reset.
      res.writeHead(200, { 'content-length': '1000' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    let length = 0;
    req.on('data', (d: Buffer) => (length += d.length));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = (req.rawHeaders[i] as string).toLowerCase();
        const value = req.rawHeaders[i + 1] as string;
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      hits.push({
        origin: 'node',
        method: req.method ?? '',
        target: req.url ?? '',
        headers,
        bodyLength: length,
      });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`node saw ${length}`);
    });
    req.on('error', () => undefined);
  });
  const upgraded = new Set<Socket>();
  nodeOrigin.on('upgrade', (req, socket: Socket, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    socket.once('end', () => socket.end());
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = String(v);
    hits.push({ origin: 'node', method: req.method ?? '', target: req.url ?? '', headers, bodyLength: 0 });
    const key = req.headers['sec-websocket-key'];
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string') {
      socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${wsAccept(key)}\r\n\r\n`,
    );
    let buf = head;
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let text = wsReadFrame(buf); text !== undefined; text = wsReadFrame(buf)) {
        buf = buf.subarray(wsFrameSize(buf));
        socket.write(wsFrame(`echo:${text}`, false));
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => nodeOrigin.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of upgraded) s.destroy();
    nodeOrigin.closeAllConnections();
    return new Promise<void>((r) => nodeOrigin.close(() => r()));
  });

  // A raw socket origin: records the exact bytes of each request, answers every one with 200.
  const rawSockets = new Set<Socket>();
  const rawOrigin: NetServer = createNetServer((socket) => {
    rawSockets.add(socket);
    socket.once('close', () => rawSockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let next = nextRequest(buf); next; next = nextRequest(buf)) {
        const raw = buf.toString('latin1', 0, next.end);
        hits.push({
          origin: 'raw',
          ...parseHead(buf.toString('latin1', 0, next.headEnd)),
          bodyLength: next.end - next.headEnd - 4,
          raw,
        });
        buf = buf.subarray(next.end);
        socket.write('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\nraw');
      }
    });
  });
  await new Promise<void>((r) => rawOrigin.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    for (const s of rawSockets) s.destroy();
    return new Promise<void>((r) => rawOrigin.close(() => r()));
  });

  // A WSGI origin (Python wsgiref): `X_Foo` and `X-Foo` both become HTTP_X_FOO there.
  const python: ChildProcess = spawn('python3', ['-c', WSGI_APP], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => {
    python.kill('SIGTERM');
  });
  // First line: the port; then one JSON line per request.
  const wsgiPort = await new Promise<number>((resolve, reject) => {
    python.once('exit', (code) => reject(new Error(`wsgi origin exited with ${code}`)));
    let pending = '';
    python.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (/^\d+$/.test(line)) {
          resolve(Number(line));
          continue;
        }
        const seen = JSON.parse(line) as {
          method: string;
          target: string;
          headers: Record<string, string>;
          length: string;
        };
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(seen.headers))
          headers[k.slice('HTTP_'.length).toLowerCase().replaceAll('_', '-')] = v;
        hits.push({
          origin: 'wsgi',
          method: seen.method,
          target: seen.target,
          headers,
          bodyLength: Number(seen.length || 0),
        });
      }
    });
  });

  const close = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', 'Attack Org', '--json']);
    assert.equal(init.code, 0, init.stderr);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    const server = await startServer([
      '--data-dir',
      join(dir, 'data'),
      ...(opts.workers ? ['--workers', String(opts.workers)] : []),
    ]);
    // Cleanups run last first: the edge stops before the origins.
    cleanups.push(async () => {
      assert.equal(await server.stop(), 0, server.output());
    });
    const api = adminApi(
      () => server.url,
      () => out.admin_token,
      () => out.root_ca_pem,
    );
    const csr = await makeCsr(dir, 'attacker-laptop');
    const issued = await api<{ certificate: string }>('POST', '/api/v1/client_certificates', {
      csr: csr.pem,
      common_name: 'laptop-1',
    });
    assert.equal(issued.status, 201);
    const client = { cert: issued.json.result.certificate, key: readFileSync(csr.keyPath, 'utf8') };
    writeFileSync(join(dir, 'root.pem'), out.root_ca_pem);

    const origins: Record<string, string> = {
      node: `http://127.0.0.1:${(nodeOrigin.address() as AddressInfo).port}`,
      raw: `http://127.0.0.1:${(rawOrigin.address() as AddressInfo).port}`,
      wsgi: `http://127.0.0.1:${wsgiPort}`,
    };
    const hostname = async (name: string, origin: string, client_auth: unknown) => {
      const r = await api('POST', '/api/v1/hostnames', { hostname: name, origin, client_auth });
      assert.equal(r.status, 201, JSON.stringify(r.json));
    };
    const report = {
      mode: 'report',
      mtls_certificate_ids: [ORG_CA_ID],
      forward: { styles: ['gatehouse'], custom: [{ header: 'X-Device-CN', field: 'subject.CN' }] },
    };
    for (const kind of ['node', 'raw', 'wsgi']) {
      await hostname(`${kind}.test`, origins[kind] as string, report);
      const app = await api('POST', '/api/v1/access/apps', {
        name: `${kind} admin`,
        domain: `${kind}.test/admin`,
        policies: [],
      });
      assert.equal(app.status, 201, JSON.stringify(app.json));
    }
    await hostname('off.test', origins.node as string, { mode: 'off', mtls_certificate_ids: [] });
    await hostname('enforce.test', origins.node as string, {
      mode: 'enforce',
      mtls_certificate_ids: [ORG_CA_ID],
    });

    const lab: EdgeLab = {
      server,
      edgePort: Number(new URL(server.edgeUrl).port),
      rootPem: out.root_ca_pem,
      client,
      hits,
      api,
      workerDeaths: () => server.output().split('edge worker died').length - 1,
      close,
    };
    // Configuration reaches the edge within a second: wait until every hostname answers.
    for (const name of ['node.test', 'raw.test', 'wsgi.test', 'off.test', 'enforce.test']) {
      const started = Date.now();
      for (;;) {
        const r = await exchange(
          lab,
          name,
          `GET /ready HTTP/1.1\r\nhost: ${name}\r\nconnection: close\r\n\r\n`,
          {
            cert: name === 'enforce.test',
          },
        ).catch(() => undefined);
        if (r?.statuses[0] === 200) break;
        assert.ok(Date.now() - started < 5_000, `edge never served ${name}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    await new Promise((res) => setTimeout(res, 300)); // the Access applications too
    hits.length = 0;
    return lab;
  } catch (err) {
    await close();
    throw err;
  }
}

export interface Exchange {
  /** Everything the edge sent back, latin1. */
  text: string;
  /** The status of each response in `text`, in order. */
  statuses: number[];
  /** The edge closed the connection (rather than the client giving up after `timeoutMs`). */
  closed: boolean;
}

// Anywhere, not only at line starts: a response may follow a body without a line break.
export const statusesOf = (text: string) =>
  [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

/** A TLS connection to the edge as `servername`, optionally presenting the lab's client certificate. */
export function connectEdge(
  lab: EdgeLab,
  servername: string,
  opts: { cert?: boolean } = {},
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: lab.edgePort,
      servername,
      ca: lab.rootPem,
      ...(opts.cert ? lab.client : {}),
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Sends `parts` (with `gapMs` between them) on a new connection and collects the answer until the
 * edge closes, `until` holds, or `timeoutMs` passes.
 */
export async function exchange(
  lab: EdgeLab,
  servername: string,
  parts: string | Buffer | (string | Buffer)[],
  opts: {
    cert?: boolean;
    gapMs?: number;
    timeoutMs?: number;
    until?: (text: string) => boolean;
    /** Destroy the connection right after the last part is written. */
    abort?: boolean;
  } = {},
): Promise<Exchange> {
  const socket = await connectEdge(lab, servername, opts);
  let text = '';
  let closed = false;
  const done = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, opts.timeoutMs ?? 5_000);
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (opts.until?.(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    socket.once('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve();
    });
  });
  socket.on('error', () => undefined);
  for (const [i, part] of (Array.isArray(parts) ? parts : [parts]).entries()) {
    if (i > 0 && opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
    if (socket.destroyed) break;
    socket.write(typeof part === 'string' ? Buffer.from(part, 'latin1') : part);
  }
  if (opts.abort) socket.destroy();
  await done;
  socket.destroy();
  return { text, statuses: statusesOf(text), closed };
}
