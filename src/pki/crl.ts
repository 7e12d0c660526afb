import { sign, verify } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { badRequest, GatehouseError } from '../errors/index.js';
import { DER_TAG, derTime, derTlv, derUnsignedInteger } from './der.js';
import { loadIssuer, type Signer } from './issuer.js';
import { x509 } from './keys.js';
import { toPem } from './pem.js';

/** RFC 5280 CRLReason values Gatehouse uses (removeFromCRL and aACompromise are not offered). */
export type CrlReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'caCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'privilegeWithdrawn';

export const CRL_REASONS: readonly CrlReason[] = [
  'unspecified',
  'keyCompromise',
  'caCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
];

export function isCrlReason(value: unknown): value is CrlReason {
  return typeof value === 'string' && (CRL_REASONS as readonly string[]).includes(value);
}

/** RFC 5280 §5.3.1 reasonCode values. */
const REASON_CODES: Record<CrlReason, number> = {
  unspecified: 0,
  keyCompromise: 1,
  caCompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  privilegeWithdrawn: 9,
};

export interface RevokedCertificateEntry {
  /** Hex serial (case-insensitive; leading zeros and a 0x00 sign pad are tolerated). */
  serialNumber: string;
  revokedAt: Date;
  reason?: CrlReason;
}

export interface CreateCrlOptions {
  issuer: Signer;
  /** Monotonically increasing per issuer; 0 ≤ crlNumber < 2^159 (at most 20 DER octets). */
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: RevokedCertificateEntry[];
}

export interface EncodedCrl {
  der: Buffer;
  pem: string;
}

/**
 * Builds a v2 CRL signed by `issuer` (same signature algorithm choice as certificates), with the
 * AKI (issuer SKI) and cRLNumber extensions. Each entry carries a reasonCode entry extension,
 * except for `unspecified`, which RFC 5280 §5.3.1 says to express by omitting the extension.
 */
export async function createCrl(options: CreateCrlOptions): Promise<EncodedCrl> {
  const { thisUpdate, nextUpdate } = options;
  // Compared as encoded (whole seconds); GeneralizedTime has four year digits.
  const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
  if (
    Number.isNaN(thisUpdate.getTime()) ||
    Number.isNaN(nextUpdate.getTime()) ||
    seconds(nextUpdate) <= seconds(thisUpdate) ||
    thisUpdate.getUTCFullYear() < 1 ||
    nextUpdate.getUTCFullYear() > 9999
  ) {
    throw badRequest('invalid_crl_dates', 'nextUpdate must be a valid date after thisUpdate');
  }
  const crlNumber = encodeDerInteger(options.crlNumber);

  // Entries are written as DER directly (see der.ts): linear in their number, ~1 µs each.
  const seen = new Set<string>();
  const entries = options.revoked.map((entry) => {
    const serialNumber = normalizeSerial(entry.serialNumber);
    if (seen.has(serialNumber))
      throw badRequest('invalid_serial_number', `serial ${serialNumber} is listed twice`);
    seen.add(serialNumber);
    if (entry.reason !== undefined && !isCrlReason(entry.reason)) {
      throw badRequest('invalid_crl_reason', `unknown revocation reason ${String(entry.reason)}`);
    }
    const year = entry.revokedAt.getUTCFullYear();
    if (Number.isNaN(entry.revokedAt.getTime()) || year < 1 || year > 9999) {
      throw badRequest('invalid_crl_dates', `serial ${serialNumber}: revokedAt is not a valid date`);
    }
    const fields = [derUnsignedInteger(Buffer.from(serialNumber, 'hex')), derTime(entry.revokedAt)];
    // RFC 5280 §5.3.1: `unspecified` is expressed by omitting the reasonCode extension.
    if (entry.reason !== undefined && entry.reason !== 'unspecified')
      fields.push(derTlv(DER_TAG.sequence, reasonExtension(entry.reason)));
    return derTlv(DER_TAG.sequence, fields);
  });

  const issuer = await loadIssuer(options.issuer, 'crls');
  const { signingAlgorithm, cryptoKey, keyObject } = issuer.key;
  const algorithm = Buffer.from(
    AsnConvert.serialize(
      new x509.AlgorithmProvider().toAsnAlgorithm({ ...signingAlgorithm, ...cryptoKey.algorithm }),
    ),
  );
  const extensions = [
    new x509.AuthorityKeyIdentifierExtension(issuer.keyIdentifier, false),
    new x509.Extension(CRL_NUMBER_OID, false, crlNumber),
  ].map((e) => Buffer.from(e.rawData));
  const tbs = derTlv(DER_TAG.sequence, [
    V2,
    algorithm,
    Buffer.from(issuer.certificate.subjectName.toArrayBuffer()),
    derTime(thisUpdate),
    derTime(nextUpdate),
    // RFC 5280 §5.1.2.6: with no entries the list is absent, not empty.
    ...(entries.length ? [derTlv(DER_TAG.sequence, entries)] : []),
    derTlv(DER_TAG.context0, derTlv(DER_TAG.sequence, extensions)),
  ]);
  // Node's signer writes ECDSA signatures as DER, the form X.509 wants; Ed25519 takes no digest.
  const digest = 'hash' in signingAlgorithm ? signingAlgorithm.hash.replace('-', '').toLowerCase() : null;
  const signature = sign(digest, tbs, { key: keyObject, dsaEncoding: 'der' });
  if (!verify(digest, tbs, { key: issuer.nodeCertificate.publicKey, dsaEncoding: 'der' }, signature)) {
    throw new GatehouseError('signing_failed', 'the generated CRL signature does not verify', 500);
  }
  const der = derTlv(DER_TAG.sequence, [
    tbs,
    algorithm,
    derTlv(DER_TAG.bitString, [Buffer.from([0]), signature]),
  ]);
  return { der, pem: toPem(der, 'X509 CRL') };
}

/** version v2 (INTEGER 1). */
const V2 = derUnsignedInteger(Buffer.from([1]));

const CRL_REASON_OID = '2.5.29.21';

/** The reasonCode entry extension (ENUMERATED), encoded once per reason. */
const reasonExtensions = new Map<CrlReason, Buffer>();
function reasonExtension(reason: CrlReason): Buffer {
  let der = reasonExtensions.get(reason);
  if (!der) {
    const value = derTlv(DER_TAG.enumerated, Buffer.from([REASON_CODES[reason]]));
    der = Buffer.from(new x509.Extension(CRL_REASON_OID, false, value).rawData);
    reasonExtensions.set(reason, der);
  }
  return der;
}

const CRL_NUMBER_OID = '2.5.29.20';

/** Lowercase hex of the minimal positive integer (no leading zero bytes), even length. */
function normalizeSerial(serial: string): string {
  if (typeof serial !== 'string' || !/^[0-9a-fA-F]+$/.test(serial)) {
    throw badRequest('invalid_serial_number', `serial number "${String(serial)}" is not hex`);
  }
  let hex = serial.toLowerCase().replace(/^0+/, '');
  if (hex.length === 0)
    throw badRequest('invalid_serial_number', 'serial number 0 is not a valid certificate serial');
  if (hex.length % 2) hex = `0${hex}`;
  if (hex.length > 40)
    throw badRequest('invalid_serial_number', `serial number ${hex} is longer than 20 octets`);
  return hex;
}

/** DER INTEGER of a non-negative bigint of at most 20 content octets (RFC 5280 §5.2.3). */
function encodeDerInteger(value: bigint): Buffer {
  if (typeof value !== 'bigint' || value < 0n) {
    throw badRequest('invalid_crl_number', 'crlNumber must be a non-negative bigint');
  }
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const der = derUnsignedInteger(Buffer.from(hex, 'hex'));
  if (der.length - 2 > 20) throw badRequest('invalid_crl_number', 'crlNumber must fit in 20 octets');
  return der;
}
