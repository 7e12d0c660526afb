// Device registration against a real `gatehouse serve`: service-token enrolment, hardware-backed
// binding of the device token to its certificate over real mTLS (curl --cert), renewal with the
// same key, expiry, re-registration replacing the old one, revocation. Keys here are openssl
// software keys; the TPM-backed agent has its own end-to-end tests.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adminApi, gatehouse, type RunningServer, startServer } from '../helpers/gatehouse.js';
import { csrForKey, makeCsr } from '../helpers/openssl.js';
import { requireTool, runOk } from '../helpers/tools.js';

interface Registered {
  registration_id: string;
  device_id: string;
  token: string;
  mode: string;
  certificate?: string;
  certificate_chain?: string;
}

describe('device registration', () => {
  let dir: string;
  let server: RunningServer;
  let token: string;
  let rootPem: string;
  let rootPath: string;
  let st: { client_id: string; client_secret: string };
  const api = adminApi(
    () => server.url,
    () => token,
    () => rootPem,
  );

  /** A call with curl: optional bearer token and client certificate. */
  async function call(
    method: string,
    path: string,
    opts: {
      bearer?: string;
      cert?: { certPath: string; keyPath: string };
      body?: unknown;
      serviceToken?: boolean;
    } = {},
  ) {
    const args = ['-s', '-w', '\n%{http_code}', '--cacert', rootPath, '-X', method];
    if (opts.bearer) args.push('-H', `authorization: Bearer ${opts.bearer}`);
    if (opts.cert) args.push('--cert', opts.cert.certPath, '--key', opts.cert.keyPath);
    if (opts.serviceToken)
      args.push(
        '-H',
        `gatehouse-access-client-id: ${st.client_id}`,
        '-H',
        `gatehouse-access-client-secret: ${st.client_secret}`,
      );
    if (opts.body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', '@-');
    const r = await runOk(requireTool('curl'), [...args, `${server.url}${path}`], {
      input: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
    const nl = r.stdout.lastIndexOf('\n');
    return { status: Number(r.stdout.slice(nl + 1)), json: JSON.parse(r.stdout.slice(0, nl) || 'null') };
  }

  async function registerHardware(name: string, serial: string, keyName = name, previousToken?: string) {
    const csr = await makeCsr(dir, keyName);
    const r = await call('POST', '/api/v1/registrations', {
      serviceToken: true,
      body: {
        name,
        serial_number: serial,
        os: 'linux',
        key_protection: 'pkcs11',
        csr: csr.pem,
        ...(previousToken ? { previous_registration_token: previousToken } : {}),
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const reg = r.json.result as Registered;
    const certPath = join(dir, `${name}-${reg.registration_id}.pem`);
    writeFileSync(certPath, reg.certificate ?? '');
    return { reg, cert: { certPath, keyPath: csr.keyPath }, csr };
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-devices-'));
    const init = await gatehouse(['init', '--data-dir', join(dir, 'data'), '--org', 'Device Org', '--json']);
    const out = JSON.parse(init.stdout) as { admin_token: string; root_ca_pem: string };
    token = out.admin_token;
    rootPem = out.root_ca_pem;
    rootPath = join(dir, 'root.pem');
    writeFileSync(rootPath, rootPem);
    server = await startServer(['--data-dir', join(dir, 'data')]);
    const created = await api<{ client_id: string; client_secret: string }>(
      'POST',
      '/api/v1/access/service_tokens',
      { name: 'enrolment' },
    );
    st = created.json.result;
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.output());
    rmSync(dir, { recursive: true, force: true });
  });

  test('registration needs a valid service token', async () => {
    const r = await call('POST', '/api/v1/registrations', {
      body: { name: 'x', key_protection: 'software' },
    });
    assert.equal(r.status, 401);
    assert.equal(r.json.errors[0].code, 'invalid_service_token');
  });

  test('standard registration: the bearer token alone authenticates', async () => {
    const r = await call('POST', '/api/v1/registrations', {
      serviceToken: true,
      body: { name: 'kiosk', serial_number: 'STD-1', key_protection: 'software' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.result.mode, 'standard');
    assert.equal(r.json.result.certificate, undefined);
    const self = await call('GET', '/api/v1/devices/self', { bearer: r.json.result.token });
    assert.equal(self.status, 200);
    assert.equal(self.json.result.registration.key_protection, 'software');
    assert.equal(self.json.result.settings.device_certificate_validity, '90d');
  });

  test('hardware-backed: the token works only on a connection presenting that very certificate', async () => {
    const openssl = requireTool('openssl');
    const { reg, cert } = await registerHardware('laptop', 'HW-1');
    assert.equal(reg.mode, 'hardware_backed');
    // The certificate chains to the org CA and names the device and the registration.
    const chainPath = join(dir, 'chain.pem');
    writeFileSync(chainPath, reg.certificate_chain ?? '');
    const verify = await runOk(openssl, [
      'verify',
      '-CAfile',
      rootPath,
      '-untrusted',
      chainPath,
      cert.certPath,
    ]);
    assert.match(verify.stdout, /OK/);
    const x509 = new X509Certificate(reg.certificate ?? '');
    assert.match(x509.subjectAltName ?? '', new RegExp(`urn:gatehouse:device:${reg.device_id}`));
    assert.match(x509.subjectAltName ?? '', new RegExp(`urn:gatehouse:registration:${reg.registration_id}`));
    const days = (Date.parse(x509.validTo) - Date.now()) / 86_400_000;
    assert.ok(days > 89 && days <= 90.01, `${days} days`);

    assert.equal((await call('GET', '/api/v1/devices/self', { bearer: reg.token, cert })).status, 200);
    const bare = await call('GET', '/api/v1/devices/self', { bearer: reg.token });
    assert.equal(bare.status, 401);
    assert.equal(bare.json.errors[0].code, 'certificate_required');
    // Another certificate from the same CA (another device's) does not do either.
    const other = await registerHardware('other', 'HW-2');
    const stolen = await call('GET', '/api/v1/devices/self', { bearer: reg.token, cert: other.cert });
    assert.equal(stolen.status, 401);
    assert.equal(stolen.json.errors[0].code, 'certificate_mismatch');
  });

  test('renewal keeps the key and the registration; another key is refused; the old certificate is superseded', async () => {
    const { reg, cert, csr } = await registerHardware('renewer', 'HW-3');
    const renewed = await call('POST', '/api/v1/devices/self/renew', {
      bearer: reg.token,
      cert,
      body: { csr: await csrForKey(csr.keyPath) },
    });
    assert.equal(renewed.status, 200, JSON.stringify(renewed.json));
    const next = new X509Certificate(renewed.json.result.certificate);
    assert.equal(
      next.publicKey.export({ type: 'spki', format: 'pem' }),
      new X509Certificate(reg.certificate ?? '').publicKey.export({ type: 'spki', format: 'pem' }),
    );
    assert.notEqual(next.serialNumber, new X509Certificate(reg.certificate ?? '').serialNumber);
    const nextPath = join(dir, 'renewed.pem');
    writeFileSync(nextPath, renewed.json.result.certificate);
    const self = await call('GET', '/api/v1/devices/self', {
      bearer: reg.token,
      cert: { certPath: nextPath, keyPath: csr.keyPath },
    });
    assert.equal(self.status, 200);
    assert.equal(self.json.result.registration.id, reg.registration_id, 'the registration is preserved');
    assert.equal(
      (await call('GET', '/api/v1/devices/self', { bearer: reg.token, cert })).json.errors[0].code,
      'certificate_mismatch',
    );
    const otherKey = await makeCsr(dir, 'not-the-key');
    const refused = await call('POST', '/api/v1/devices/self/renew', {
      bearer: reg.token,
      cert: { certPath: nextPath, keyPath: csr.keyPath },
      body: { csr: otherKey.pem },
    });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.errors[0].code, 'key_mismatch');
  });

  test('a short certificate validity expires and forces re-registration', async () => {
    assert.equal(
      (await api('PATCH', '/api/v1/organization/settings', { device_certificate_validity: '3s' })).status,
      200,
    );
    try {
      const { reg, cert } = await registerHardware('short', 'HW-4');
      const x509 = new X509Certificate(reg.certificate ?? '');
      assert.ok(Date.parse(x509.validTo) - Date.now() <= 3000);
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(x509.validTo) - Date.now()) + 1100));
      const expired = await call('GET', '/api/v1/devices/self', { bearer: reg.token, cert });
      assert.equal(expired.status, 401);
      assert.equal(expired.json.errors[0].code, 'certificate_expired');
    } finally {
      await api('PATCH', '/api/v1/organization/settings', { device_certificate_validity: '90d' });
    }
  });

  test('requiring hardware-backed registration refuses standard ones; re-registering replaces the old registration', async () => {
    const std = await call('POST', '/api/v1/registrations', {
      serviceToken: true,
      body: { name: 'switcher', serial_number: 'SW-1', key_protection: 'software' },
    });
    assert.equal(std.status, 201);
    assert.equal(
      (await api('PATCH', '/api/v1/organization/settings', { require_hardware_backed_registration: true }))
        .status,
      200,
    );
    try {
      const refused = await call('POST', '/api/v1/registrations', {
        serviceToken: true,
        body: { name: 'switcher', serial_number: 'SW-1', key_protection: 'software' },
      });
      assert.equal(refused.status, 403);
      assert.equal(refused.json.errors[0].code, 'hardware_backed_required');
      // A serial number is no secret: without the current registration's token, no takeover.
      for (const previous of [undefined, 'gh_dev_not-the-token']) {
        const stranger = await call('POST', '/api/v1/registrations', {
          serviceToken: true,
          body: {
            name: 'impostor',
            serial_number: 'SW-1',
            key_protection: 'pkcs11',
            csr: (await makeCsr(dir, 'impostor')).pem,
            ...(previous ? { previous_registration_token: previous } : {}),
          },
        });
        assert.equal(stranger.status, 409, JSON.stringify(stranger.json));
        assert.equal(stranger.json.errors[0].code, 'device_already_registered');
        assert.equal(
          (await call('GET', '/api/v1/devices/self', { bearer: std.json.result.token })).status,
          200,
          'the registration in place still works',
        );
      }
      const { reg, cert } = await registerHardware('switcher', 'SW-1', 'switcher', std.json.result.token);
      assert.equal(reg.device_id, std.json.result.device_id, 'same device (serial number)');
      const old = await call('GET', '/api/v1/devices/self', { bearer: std.json.result.token });
      assert.equal(old.status, 401);
      assert.equal(old.json.errors[0].code, 'registration_ended');
      assert.equal((await call('GET', '/api/v1/devices/self', { bearer: reg.token, cert })).status, 200);
    } finally {
      await api('PATCH', '/api/v1/organization/settings', { require_hardware_backed_registration: false });
    }
  });

  test('unregistering and admin revocation kill the token and revoke the certificate', async () => {
    const a = await registerHardware('leaver', 'HW-5');
    assert.equal(
      (await call('DELETE', '/api/v1/devices/self', { bearer: a.reg.token, cert: a.cert })).status,
      200,
    );
    assert.equal(
      (await call('GET', '/api/v1/devices/self', { bearer: a.reg.token, cert: a.cert })).status,
      401,
    );

    const b = await registerHardware('fired', 'HW-6');
    assert.equal((await api('DELETE', `/api/v1/registrations/${b.reg.registration_id}`)).status, 200);
    assert.equal(
      (await call('GET', '/api/v1/devices/self', { bearer: b.reg.token, cert: b.cert })).status,
      401,
    );
    const list = await api<
      { id: string; registrations: { id: string; status: string; hardware_backed: boolean }[] }[]
    >('GET', '/api/v1/devices');
    const fired = list.json.result
      .flatMap((d) => d.registrations)
      .find((r) => r.id === b.reg.registration_id);
    assert.equal(fired?.status, 'revoked');
    assert.equal(fired?.hardware_backed, true);
    // Its certificate is in the CRL.
    const crlPath = join(dir, 'org.crl');
    await runOk(requireTool('curl'), [
      '-s',
      '--cacert',
      rootPath,
      '-o',
      crlPath,
      `${server.url}/crl/00000000-0000-4000-8000-000000000001.crl`,
    ]);
    const crl = (
      await runOk(requireTool('openssl'), ['crl', '-inform', 'DER', '-in', crlPath, '-noout', '-text'])
    ).stdout.toUpperCase();
    assert.ok(crl.includes(new X509Certificate(b.reg.certificate ?? '').serialNumber.toUpperCase()));
  });

  test('bad CSRs are refused with 400 and register nothing', async () => {
    const before = (await api<unknown[]>('GET', '/api/v1/registrations')).json.result.length;
    const weak = await makeCsr(dir, 'weak-dev', 'rsa:1024');
    const r = await call('POST', '/api/v1/registrations', {
      serviceToken: true,
      body: { name: 'weak', key_protection: 'tpm2', csr: weak.pem },
    });
    assert.equal(r.status, 400);
    assert.equal(r.json.errors[0].code, 'weak_key');
    const noCsr = await call('POST', '/api/v1/registrations', {
      serviceToken: true,
      body: { name: 'tpm', key_protection: 'tpm2' },
    });
    assert.equal(noCsr.status, 400);
    assert.equal(noCsr.json.errors[0].code, 'csr_required');
    assert.equal((await api<unknown[]>('GET', '/api/v1/registrations')).json.result.length, before);
  });
});
