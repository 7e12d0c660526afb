import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Pkcs10CertificateRequest } from '@peculiar/x509';
import { badRequest } from '../errors/index.js';
import { formatDistinguishedName, lastCommonName } from './describe.js';
import { classifyKey, type KeyInfo, pkiWebCrypto, x509 } from './keys.js';
import { parsePemBlocks, toPem } from './pem.js';

export interface CsrSubjectAltNames {
  dns: string[];
  ip: string[];
  email: string[];
  uri: string[];
}

export interface VerifiedCsr {
  /** The requested public key as SPKI PEM ("PUBLIC KEY"), ready for issueClientCertificate. */
  publicKeyPem: string;
  /** The same SubjectPublicKeyInfo, DER. */
  publicKeyDer: Buffer;
  key: KeyInfo;
  /** RFC 4514 subject, most specific RDN first ("CN=alice,O=Acme"); "" for an empty subject. */
  subject: string;
  /** The last (most specific) CN in the subject. */
  commonName?: string;
  /** SANs requested through the extensionRequest attribute; other GeneralName kinds are ignored. */
  sans: CsrSubjectAltNames;
}

const CSR_LABELS = new Set(['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);

/**
 * Parses and checks a PKCS#10 CSR, in this order (each failure is a 400 GatehouseError):
 * `invalid_pem` (not exactly one CERTIFICATE REQUEST / NEW CERTIFICATE REQUEST block),
 * `invalid_csr` (DER is not a PKCS#10 request), `unsupported_key_type` / `weak_key` (key policy of
 * classifyKey: EC P-256/P-384, RSA >= 2048, Ed25519), `csr_signature_invalid` (proof of
 * possession: the request is not signed by the private key of the public key it carries).
 */
export async function verifyCsr(pem: string): Promise<VerifiedCsr> {
  const blocks = parsePemBlocks(pem);
  const block = blocks[0];
  if (blocks.length !== 1 || !block) {
    throw badRequest('invalid_pem', `expected exactly one CERTIFICATE REQUEST block, found ${blocks.length}`);
  }
  if (!CSR_LABELS.has(block.label)) {
    throw badRequest('invalid_pem', `expected a CERTIFICATE REQUEST block, found ${block.label}`);
  }
  const der = block.der;

  const notPkcs10 = (cause?: unknown) =>
    badRequest('invalid_csr', 'not a PKCS#10 certificate request (DER does not parse)', cause);
  // The parser tolerates trailing bytes after the request; DER does not.
  if (derElementLength(der) !== der.length) throw notPkcs10();
  let csr: Pkcs10CertificateRequest;
  let publicKeyDer: Buffer;
  try {
    csr = new x509.Pkcs10CertificateRequest(der);
    publicKeyDer = Buffer.from(csr.publicKey.rawData);
  } catch (err) {
    throw notPkcs10(err);
  }

  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: publicKeyDer, format: 'der', type: 'spki' });
  } catch (err) {
    throw badRequest('unsupported_key_type', 'the public key algorithm in the request is not supported', err);
  }
  const key = classifyKey(keyObject);

  let signatureOk = false;
  try {
    signatureOk = await csr.verify(pkiWebCrypto);
  } catch {
    // Malformed signature encodings (e.g. a corrupted ECDSA DER signature) throw instead of
    // returning false; for the caller both mean the same thing.
    signatureOk = false;
  }
  if (!signatureOk) {
    throw badRequest(
      'csr_signature_invalid',
      'the request signature does not verify with its public key (proof of possession failed)',
    );
  }

  let subjectDer: Uint8Array;
  let subject: string;
  let sans: CsrSubjectAltNames;
  try {
    subjectDer = new Uint8Array(csr.subjectName.toArrayBuffer());
    subject = formatDistinguishedName(subjectDer);
    sans = requestedSans(csr);
  } catch (err) {
    throw badRequest('invalid_csr', 'the request subject or extensions do not parse', err);
  }
  const result: VerifiedCsr = {
    publicKeyPem: toPem(publicKeyDer, 'PUBLIC KEY'),
    publicKeyDer,
    key,
    subject,
    sans,
  };
  const commonName = lastCommonName(subjectDer);
  if (commonName !== undefined) result.commonName = commonName;
  return result;
}

function requestedSans(csr: Pkcs10CertificateRequest): CsrSubjectAltNames {
  const sans: CsrSubjectAltNames = { dns: [], ip: [], email: [], uri: [] };
  const ext = csr.getExtension('2.5.29.17');
  if (!(ext instanceof x509.SubjectAlternativeNameExtension)) return sans;
  for (const name of ext.names.items) {
    if (name.type === 'dns') sans.dns.push(name.value);
    else if (name.type === 'ip') sans.ip.push(name.value);
    else if (name.type === 'email') sans.email.push(name.value);
    else if (name.type === 'url') sans.uri.push(name.value);
  }
  return sans;
}

/**
 * Total length (header + content) of the DER SEQUENCE at the start of `der`; undefined when `der`
 * does not start with one (or its length takes more than 4 bytes).
 */
function derElementLength(der: Uint8Array): number | undefined {
  const first = der[1];
  if (der[0] !== 0x30 || first === undefined) return undefined;
  if (first < 0x80) return 2 + first;
  const n = first & 0x7f;
  if (n === 0 || n > 4 || der.length < 2 + n) return undefined;
  let length = 0;
  for (let i = 0; i < n; i++) length = length * 256 + (der[2 + i] ?? 0);
  return 2 + n + length;
}
