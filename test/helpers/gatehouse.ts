// Drives the real `gatehouse` binary (dist/cli/main.js, built by `npm test`) for end-to-end tests.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import https from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTool, run, runOk } from './tools.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');

function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` (npm test does it)`);
}

/** Runs `gatehouse ARGS…` to completion. */
export async function gatehouse(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string } = {}) {
  assertBuilt();
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, input: opts.input });
}

export interface RunningServer {
  url: string;
  /** The edge's URL (serve runs it too). */
  edgeUrl: string;
  process: ChildProcess;
  /** Sends SIGTERM and resolves with the exit code (null if it had to be killed after 30 s). */
  stop(): Promise<number | null>;
  output(): string;
}

const START_TIMEOUT_MS = 60_000;

/** Starts `gatehouse serve` on a random loopback port and waits for its "listening on" line. */
export async function startServer(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv } = {},
): Promise<RunningServer> {
  assertBuilt();
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--api-listen', '127.0.0.1:0', '--edge-listen', '127.0.0.1:0', '--workers', '1', ...args],
    {
      env: { ...process.env, GATEHOUSE_LOG_LEVEL: 'warn', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  // Generous: CI runs two test files at once on a small machine, and a node start migrates,
  // loads keys and forks a worker. On timeout the child is killed so the file cannot hang on it.
  const [url, edgeUrl] = await new Promise<[string, string]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${START_TIMEOUT_MS / 1000}s:\n${out}`));
    }, START_TIMEOUT_MS);
    const check = () => {
      const api = /control plane listening on (https:\/\/\S+?)\s/.exec(out);
      const edge = /edge listening on (https:\/\/\S+?)\s/.exec(out);
      if (api && edge) {
        clearTimeout(timer);
        resolve([api[1] as string, edge[1] as string]);
      }
    };
    child.stdout?.on('data', check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}`));
    });
  });
  return {
    url,
    edgeUrl,
    process: child,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      // serve bounds its own shutdown (15 s); should that break, the test fails (exit code null
      // from the SIGKILL) instead of hanging the file.
      const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(kill);
      return code;
    },
  };
}

export interface ApiResponse<T> {
  status: number;
  json: { success: boolean; result: T; errors: { code: string; message: string }[] };
}

/** An admin API client for a running server: bearer token, trusting only the org root. */
export function adminApi(baseUrl: () => string, token: () => string, rootPem: () => string) {
  return <T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<ApiResponse<T>> =>
    new Promise((resolve, reject) => {
      const headers = {
        authorization: `Bearer ${token()}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      };
      const req = https.request(`${baseUrl()}${path}`, { method, ca: rootPem(), headers }, (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) }));
      });
      req.on('error', reject);
      req.end(body ? JSON.stringify(body) : undefined);
    });
}

/**
 * One HTTPS request to a running edge on 127.0.0.1 as `hostname` (SNI and Host), trusting `ca`,
 * presenting the client certificate in `tls` (cert, key, and any other TLS option), no agent.
 */
export function edgeRequest(
  port: number,
  hostname: string,
  ca: string,
  tls: https.RequestOptions = {},
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        servername: hostname,
        headers: { host: hostname, ...headers },
        ca,
        ...tls,
        agent: false,
      },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/**
 * curl against a running edge as `hostname` (resolved to 127.0.0.1, trusting only the org root):
 * `curl(path, extraArgs, env?)` → status, response head and body (env: e.g. OPENSSL_CONF for a
 * key in a token).
 */
export function edgeCurl(hostname: string, edgePort: () => number, rootPath: () => string) {
  return async (path: string, args: string[] = [], env?: NodeJS.ProcessEnv) => {
    const r = await runOk(
      requireTool('curl'),
      [
        '-s',
        '-D',
        '-',
        '--resolve',
        `${hostname}:${edgePort()}:127.0.0.1`,
        '--cacert',
        rootPath(),
        ...args,
        `https://${hostname}:${edgePort()}${path}`,
      ],
      env ? { env } : {},
    );
    const [head = '', ...rest] = r.stdout.split('\r\n\r\n');
    return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(head)?.[1]), head, body: rest.join('\r\n\r\n') };
  };
}
