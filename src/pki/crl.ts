import type { X509CrlEntryParams } from '@peculiar/x509';
import { badRequest, GatehouseError } from '../errors/index.js';
import { loadIssuer, type Signer } from './issuer.js';
import { pkiWebCrypto, x509 } from './keys.js';
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
  if (Number.isNaN(thisUpdate.getTime()) || Number.isNaN(nextUpdate.getTime()) || nextUpdate <= thisUpdate) {
    throw badRequest('invalid_crl_dates', 'nextUpdate must be a valid date after thisUpdate');
  }
  const crlNumber = encodeDerInteger(options.crlNumber);

  const seen = new Set<string>();
  const entries: X509CrlEntryParams[] = options.revoked.map((entry) => {
    const serialNumber = normalizeSerial(entry.serialNumber);
    if (seen.has(serialNumber))
      throw badRequest('invalid_serial_number', `serial ${serialNumber} is listed twice`);
    seen.add(serialNumber);
    if (entry.reason !== undefined && !isCrlReason(entry.reason)) {
      throw badRequest('invalid_crl_reason', `unknown revocation reason ${String(entry.reason)}`);
    }
    if (Number.isNaN(entry.revokedAt.getTime())) {
      throw badRequest('invalid_crl_dates', `serial ${serialNumber}: revokedAt is not a valid date`);
    }
    const params: X509CrlEntryParams = { serialNumber, revocationDate: entry.revokedAt };
    // The library skips reason 0 itself; we do it explicitly so the rule is visible here.
    if (entry.reason !== undefined && entry.reason !== 'unspecified')
      params.reason = REASON_CODES[entry.reason];
    return params;
  });

  const issuer = await loadIssuer(options.issuer, 'crls');
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: issuer.certificate.subjectName,
      thisUpdate,
      nextUpdate,
      entries,
      extensions: [
        new x509.AuthorityKeyIdentifierExtension(issuer.keyIdentifier, false),
        new x509.Extension(CRL_NUMBER_OID, false, crlNumber),
      ],
      signingAlgorithm: issuer.key.signingAlgorithm,
      signingKey: issuer.key.cryptoKey,
    },
    pkiWebCrypto,
  );
  if (!(await crl.verify({ publicKey: issuer.certificate }, pkiWebCrypto))) {
    throw new GatehouseError('signing_failed', 'the generated CRL signature does not verify', 500);
  }
  const der = Buffer.from(crl.rawData);
  return { der, pem: toPem(der, 'X509 CRL') };
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

/** DER INTEGER (tag, length, content) of a non-negative bigint of at most 20 content octets. */
function encodeDerInteger(value: bigint): Buffer {
  if (typeof value !== 'bigint' || value < 0n) {
    throw badRequest('invalid_crl_number', 'crlNumber must be a non-negative bigint');
  }
  let hex = value.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let content = Buffer.from(hex, 'hex');
  if ((content[0] ?? 0) & 0x80) content = Buffer.concat([Buffer.from([0]), content]);
  if (content.length > 20) throw badRequest('invalid_crl_number', 'crlNumber must fit in 20 octets');
  return Buffer.concat([Buffer.from([0x02, content.length]), content]);
}
