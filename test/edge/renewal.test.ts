// Renewal of the certificates Gatehouse issues to itself: edge hostnames' org-issued server
// certificates and the control plane's, on a real store with a clock moved forward, and the
// running HTTPS listener switching to the renewed certificate for new connections.
import assert from 'node:assert/strict';
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import pino from 'pino';
import { createServices, startApiServer, type RunningApi, type Services } from '../../src/api/index.js';
import { Authority, initializeOrganization, ORG_CA_ID } from '../../src/authority/index.js';
import { startCertificateRenewal } from '../../src/cli/renewal.js';
import { Store } from '../../src/store/index.js';
import { makeSelfSigned } from '../helpers/openssl.js';

const DAY = 86_400_000;

/** The serial number of the certificate a TLS server presents to a new connection. */
function servedSerial(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().serialNumber.toLowerCase());
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('certificate renewal', () => {
  let dir: string;
  let store: Store;
  let authority: Authority;
  let hostnames: Services['hostnames'];
  let api: RunningApi;
  let clock = new Date();
  const logLines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    }),
  );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-renewal-'));
    store = await Store.open({ url: join(dir, 'renewal.db') });
    const masterKey = randomBytes(32);
    await initializeOrganization({
      store,
      masterKey,
      orgName: 'Renewal Org',
      algorithm: 'ecdsa-p256',
      sans: ['gatehouse.example.test'],
      publicUrl: 'https://gatehouse.example.test',
    });
    authority = await Authority.load(store, masterKey, () => clock);
    hostnames = createServices(authority).hostnames;
    api = await startApiServer({
      authority,
      host: '127.0.0.1',
      port: 0,
      tls: await authority.controlPlaneTls(),
      logger,
    });
  });
  after(async () => {
    await api?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const clientAuth = { mode: 'enforce' as const, mtls_certificate_ids: [ORG_CA_ID] };

  test('renews what is due, leaves the rest, and the listener serves the new certificate', async () => {
    const org = await hostnames.create(
      { hostname: 'app.example.test', origin: 'http://127.0.0.1:9', client_auth: clientAuth },
      'test',
    );
    const custom = await makeSelfSigned(dir, 'custom', {
      days: 10,
      extensions: ['subjectAltName=DNS:custom.example.test'],
    });
    await hostnames.create(
      {
        hostname: 'custom.example.test',
        origin: 'http://127.0.0.1:9',
        tls: { certificate: custom.pem, private_key: readFileSync(custom.keyPath, 'utf8') },
        client_auth: clientAuth,
      },
      'test',
    );
    const renewal = startCertificateRenewal({ authority, hostnames, api, logger, intervalMs: 3_600_000 });
    try {
      const servedBefore = await servedSerial(api.url);
      const versionBefore = await store.configVersion.current();

      // Today nothing is due: the org-issued certificates are new; the custom one only warns.
      await renewal.check();
      assert.equal((await hostnames.get(org.row.id)).row.certificate_pem, org.row.certificate_pem);
      assert.equal(await store.configVersion.current(), versionBefore);
      assert.equal(await servedSerial(api.url), servedBefore);
      assert.ok(
        logLines.some((l) => l.hostname === 'custom.example.test' && /expires soon/.test(String(l.msg))),
        'an admin-supplied certificate about to expire is logged',
      );

      // 300 days on (397-day certificates, renewed with a third of their life left).
      clock = new Date(Date.now() + 300 * DAY);
      await renewal.check();

      const renewed = (await hostnames.get(org.row.id)).row;
      assert.notEqual(renewed.certificate_pem, org.row.certificate_pem);
      const cert = new X509Certificate(renewed.certificate_pem);
      assert.ok(cert.checkHost('app.example.test'));
      assert.ok(Math.abs(Date.parse(cert.validTo) - (clock.getTime() + 397 * DAY)) < 2 * DAY);
      assert.ok(cert.verify(new X509Certificate(renewed.chain_pem).publicKey), 'issued by the org CA');
      const key = authority.openKey(renewed.sealed_private_key, renewed.id);
      assert.ok(cert.checkPrivateKey(createPrivateKey(key)));
      assert.equal(await store.configVersion.current(), versionBefore + 1, 'running edges reload');
      const customRow = (await store.hostnames.byName('custom.example.test'))!;
      assert.equal(
        customRow.certificate_pem.trim(),
        custom.pem.trim(),
        'admin certificates are not replaced',
      );

      const servedAfter = await servedSerial(api.url);
      assert.notEqual(servedAfter, servedBefore, 'new connections get the renewed control-plane certificate');
      const cp = await authority.controlPlaneTls();
      const cpCert = new X509Certificate(cp.certificatePem);
      assert.equal(cpCert.serialNumber.toLowerCase(), servedAfter);
      assert.ok(cpCert.checkHost('gatehouse.example.test') && cpCert.checkIP('127.0.0.1'), 'same names');

      const audit = await authority.listAudit(
        { action: 'hostname.certificate.renew' },
        { page: 1, perPage: 10 },
      );
      assert.deepEqual(
        audit.items.map((a) => a.resource_id),
        [org.row.id],
      );
      const cpAudit = await authority.listAudit(
        { action: 'control_plane.certificate.renew' },
        { page: 1, perPage: 10 },
      );
      assert.equal(cpAudit.total, 1);

      // Renewed today: a second check is a no-op.
      await renewal.check();
      assert.equal((await hostnames.get(org.row.id)).row.certificate_pem, renewed.certificate_pem);
      assert.equal(await store.configVersion.current(), versionBefore + 1);
    } finally {
      await renewal.stop();
    }
  });
});
