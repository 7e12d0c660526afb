// An initialised organization behind a running `gatehouse serve`, with one device registered by
// the real agent (software key, service token): the starting point of the posture end-to-end tests.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminApi, gatehouse, type RunningServer, startServer } from './gatehouse.js';

export interface DeviceOrg {
  server: RunningServer;
  adminToken: string;
  rootPem: string;
  rootPath: string;
  api: ReturnType<typeof adminApi>;
  /** The agent's state dir (token, cert.pem, the software key file). */
  stateDir: string;
}

/**
 * `register …` arguments (after `gatehouse device`) for an agent with a software key, as the tests
 * run it; with a service token when one is given.
 */
export function softwareRegisterArgs(o: {
  stateDir: string;
  serverUrl: string;
  org: string;
  caFile: string;
  serviceToken?: { clientId: string; secretFile: string };
  serialNumber?: string;
}): string[] {
  return [
    'register',
    '--state-dir',
    o.stateDir,
    '--server',
    o.serverUrl,
    '--org',
    o.org,
    '--ca-file',
    o.caFile,
    '--key-provider',
    'software',
    '--insecure-software-key',
    ...(o.serviceToken
      ? [
          '--service-token-id',
          o.serviceToken.clientId,
          '--service-token-secret-file',
          o.serviceToken.secretFile,
        ]
      : []),
    ...(o.serialNumber ? ['--serial-number', o.serialNumber] : []),
  ];
}

export interface EnrolmentOrg extends Omit<DeviceOrg, 'stateDir'> {
  /** A service token for `POST /registrations`; its secret is also in `<dir>/secret`. */
  serviceToken: { client_id: string; client_secret: string };
}

/** `gatehouse init` in `<dir>/data`, `serve` on it (env: e.g. a PostgreSQL URL), an enrolment service token. */
export async function startEnrolmentOrg(
  dir: string,
  org: string,
  env: NodeJS.ProcessEnv = {},
  /** More `gatehouse serve` arguments (e.g. `--workers 2`). */
  serverArgs: string[] = [],
): Promise<EnrolmentOrg> {
  const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', org, '--json'], { env });
  assert.equal(init.code, 0, init.stderr);
  const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
  const rootPath = join(dir, 'root.pem');
  writeFileSync(rootPath, out.root_ca_pem);
  const server = await startServer(['--data-dir', join(dir, 'data'), ...serverArgs], { env });
  const api = adminApi(
    () => server.url,
    () => out.admin_token,
    () => out.root_ca_pem,
  );
  const st = await api<{ client_id: string; client_secret: string }>(
    'POST',
    '/api/v1/access/service_tokens',
    { name: 'enrol' },
  );
  assert.equal(st.status, 201, JSON.stringify(st.json));
  writeFileSync(join(dir, 'secret'), st.json.result.client_secret, { mode: 0o600 });
  return {
    server,
    adminToken: out.admin_token,
    rootPem: out.root_ca_pem,
    rootPath,
    api,
    serviceToken: st.json.result,
  };
}

export async function startDeviceOrg(
  dir: string,
  org: string,
  serial: string,
  /** More `gatehouse serve` arguments (e.g. `--workers 2`). */
  serverArgs: string[] = [],
): Promise<DeviceOrg> {
  const { serviceToken, ...started } = await startEnrolmentOrg(dir, org, {}, serverArgs);
  const { server, rootPath } = started;
  const stateDir = join(dir, 'state');
  const reg = await gatehouse(
    [
      'device',
      ...softwareRegisterArgs({
        stateDir,
        serverUrl: server.url,
        org,
        caFile: rootPath,
        serviceToken: { clientId: serviceToken.client_id, secretFile: join(dir, 'secret') },
        serialNumber: serial,
      }),
    ],
    { env: { GATEHOUSE_MDM_FILE: join(dir, 'no-mdm.xml'), GATEHOUSE_LOG_LEVEL: 'warn' } },
  );
  assert.equal(reg.code, 0, reg.stderr);
  return { ...started, stateDir };
}
