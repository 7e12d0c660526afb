// Revocation status the edge cannot know fails closed for exactly the issuer concerned: a stored
// CRL that no longer passes (an older release accepted CRLs without nextUpdate) blocks that
// issuer's certificates, not those of another CA sharing its root, and a second CA with the same
// name (a key rollover) cannot lift it with its own fresh CRL.
import assert from 'node:assert/strict';
import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { createServices } from '../../src/api/services.js';
import { loadSnapshot } from '../../src/edge/loader.js';
import { evaluateClientCertificate } from '../../src/edge/verify-client.js';
import { DER_TAG, derTime, derTlv, derUnsignedInteger, readDerElements } from '../../src/pki/der.js';
import { openTestApi, type TestApi } from '../helpers/api.js';
import { type CaFiles, makeRootCa, makeSelfSigned, makeSignedCert } from '../helpers/openssl.js';
import { tempDir } from '../helpers/tools.js';

const ECDSA_SHA256 = derTlv(DER_TAG.sequence, Buffer.from('06082a8648ce3d040302', 'hex'));

/** A CRL signed by `ca` (an EC key), revoking `serials`; without nextUpdate unless given. */
function crlBy(ca: CaFiles, serials: string[], nextUpdate?: Date) {
  const x = new X509Certificate(ca.pem);
  const tbsFields = readDerElements(readDerElements(readDerElements(x.raw)![0]!.content)![0]!.content)!;
  const subject = Buffer.from(tbsFields[tbsFields[0]!.tag === 0xa0 ? 5 : 4]!.raw);
  const entries = serials.map((s) =>
    derTlv(DER_TAG.sequence, [derUnsignedInteger(Buffer.from(s, 'hex')), derTime(new Date())]),
  );
  const tbs = derTlv(DER_TAG.sequence, [
    derUnsignedInteger(Buffer.from([1])),
    ECDSA_SHA256,
    subject,
    derTime(new Date(Date.now() - 60_000)),
    ...(nextUpdate ? [derTime(nextUpdate)] : []),
    ...(entries.length ? [derTlv(DER_TAG.sequence, entries)] : []),
  ]);
  const signature = sign('sha256', tbs, {
    key: createPrivateKey(readFileSync(ca.keyPath)),
    dsaEncoding: 'der',
  });
  const der = derTlv(DER_TAG.sequence, [
    tbs,
    ECDSA_SHA256,
    derTlv(DER_TAG.bitString, [Buffer.from([0]), signature]),
  ]);
  return { der, fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase() };
}

/** Stores a CRL row as a release that did not check it would have. */
async function storeCrl(api: TestApi, caId: string, crl: ReturnType<typeof crlBy>) {
  const now = new Date().toISOString();
  await api.store.attachedCrls.put({
    ca_id: caId,
    issuer_fingerprint_sha256: crl.fingerprint,
    der_base64: crl.der.toString('base64'),
    this_update: now,
    next_update: null,
    revoked_count: 0,
    attached_at: now,
  });
  await api.store.configVersion.bump();
}

async function verdict(api: TestApi, hostname: string, leaf: CaFiles) {
  const snapshot = await loadSnapshot(api.store, api.authority);
  const host = snapshot.hosts.get(hostname);
  assert.ok(host);
  const { verdict } = evaluateClientCertificate(
    snapshot,
    host,
    new X509Certificate(leaf.pem),
    () => [],
    true,
    new Date(),
  );
  return verdict.status === 'invalid' ? `invalid:${verdict.reason}` : verdict.status;
}

test('a stored CRL that no longer passes blocks its issuer only, not another CA under the same root', async (t) => {
  const dir = await tempDir(t);
  const root = await makeRootCa(dir, 'SharedRoot');
  const intA = await makeSignedCert(dir, 'IntA', root);
  const intB = await makeSignedCert(dir, 'IntB', root);
  const leafA = await makeSignedCert(dir, 'leafA', intA, { ca: false });
  const leafB = await makeSignedCert(dir, 'leafB', intB, { ca: false });
  const api = await openTestApi();
  t.after(() => api.close());
  const caA = await api.authority.uploadCa({ name: 'A', certificatesPem: intA.pem + root.pem }, 'test');
  const caB = await api.authority.uploadCa({ name: 'B', certificatesPem: intB.pem + root.pem }, 'test');
  const hostnames = createServices(api.authority).hostnames;
  for (const [name, id] of [
    ['a.crl.test', caA.id],
    ['b.crl.test', caB.id],
  ] as const)
    await hostnames.create(
      {
        hostname: name,
        origin: 'http://127.0.0.1:9',
        client_auth: { mode: 'enforce', mtls_certificate_ids: [id] },
      },
      'test',
    );
  assert.equal(await verdict(api, 'a.crl.test', leafA), 'valid');
  await storeCrl(api, caA.id, crlBy(intA, []));
  assert.equal(await verdict(api, 'a.crl.test', leafA), 'invalid:crl_expired');
  assert.equal(await verdict(api, 'b.crl.test', leafB), 'valid');
});

test('two CAs with one name (a key rollover): one fresh CRL does not lift the other CA’s unknown status', async (t) => {
  const dir = await tempDir(t);
  const ext = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'];
  const oldCa = await makeSelfSigned(dir, 'old', { subject: '/CN=Corp CA', extensions: ext });
  const newCa = await makeSelfSigned(dir, 'new', { subject: '/CN=Corp CA', extensions: ext });
  const leafOld = await makeSignedCert(dir, 'leafOld', oldCa, { ca: false });
  const api = await openTestApi();
  t.after(() => api.close());
  const a = await api.authority.uploadCa({ name: 'old', certificatesPem: oldCa.pem }, 'test');
  const b = await api.authority.uploadCa({ name: 'new', certificatesPem: newCa.pem }, 'test');
  await createServices(api.authority).hostnames.create(
    {
      hostname: 'corp.crl.test',
      origin: 'http://127.0.0.1:9',
      client_auth: { mode: 'enforce', mtls_certificate_ids: [a.id, b.id] },
    },
    'test',
  );
  // The old CA's stored CRL revokes leafOld but has no nextUpdate (so its entries are not read).
  const serial = new X509Certificate(leafOld.pem).serialNumber.toLowerCase();
  await storeCrl(api, a.id, crlBy(oldCa, [serial.length % 2 ? `0${serial}` : serial]));
  assert.equal(await verdict(api, 'corp.crl.test', leafOld), 'invalid:crl_expired');
  await storeCrl(api, b.id, crlBy(newCa, [], new Date(Date.now() + 7 * 86_400_000)));
  assert.equal(await verdict(api, 'corp.crl.test', leafOld), 'invalid:crl_expired');
});
