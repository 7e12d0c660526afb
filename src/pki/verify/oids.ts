/** Object identifiers used by path validation (RFC 5280 unless noted). */
export const OID = {
  // certificate extensions
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  issuerAltName: '2.5.29.18',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  crlDistributionPoints: '2.5.29.31',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  authorityKeyIdentifier: '2.5.29.35',
  policyConstraints: '2.5.29.36',
  extKeyUsage: '2.5.29.37',
  freshestCrl: '2.5.29.46',
  inhibitAnyPolicy: '2.5.29.54',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  subjectInfoAccess: '1.3.6.1.5.5.7.1.11',
  // CRL extensions
  crlNumber: '2.5.29.20',
  deltaCrlIndicator: '2.5.29.27',
  issuingDistributionPoint: '2.5.29.28',
  // CRL entry extensions
  reasonCode: '2.5.29.21',
  holdInstructionCode: '2.5.29.23',
  invalidityDate: '2.5.29.24',
  certificateIssuer: '2.5.29.29',
  // key purposes
  anyExtendedKeyUsage: '2.5.29.37.0',
  // attribute types
  emailAddress: '1.2.840.113549.1.9.1',
  // algorithms
  dsa: '1.2.840.10040.4.1',
} as const;

/**
 * Certificate extensions this validator understands, so a critical instance does not fail the
 * path. The policy extensions are processed by policy.ts (RFC 5280 §6.1 policy tree).
 */
export const KNOWN_CERT_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.subjectKeyIdentifier,
  OID.keyUsage,
  OID.subjectAltName,
  OID.issuerAltName,
  OID.basicConstraints,
  OID.nameConstraints,
  OID.crlDistributionPoints,
  OID.certificatePolicies,
  OID.policyMappings,
  OID.authorityKeyIdentifier,
  OID.policyConstraints,
  OID.extKeyUsage,
  OID.freshestCrl,
  OID.inhibitAnyPolicy,
  OID.authorityInfoAccess,
  OID.subjectInfoAccess,
]);

export const KNOWN_CRL_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.authorityKeyIdentifier,
  OID.issuerAltName,
  OID.crlNumber,
  OID.deltaCrlIndicator,
  OID.issuingDistributionPoint,
  OID.freshestCrl,
  OID.authorityInfoAccess,
]);

export const KNOWN_CRL_ENTRY_EXTENSIONS: ReadonlySet<string> = new Set([
  OID.reasonCode,
  OID.holdInstructionCode,
  OID.invalidityDate,
  OID.certificateIssuer,
]);

/** Short attribute names for human-readable distinguished names in failure reasons. */
export const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  [OID.emailAddress]: 'emailAddress',
};
