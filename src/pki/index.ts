/**
 * Public surface of the PKI domain: pure certificate, CSR, CRL and key handling. Only what other
 * domains use is exported; the rest (signing, input checks, the RFC 5280 engine's parts) stays
 * inside pki/.
 */
export { type AttachedCrlInfo, parseAttachedCrl } from './attached-crl.js';
export { type CaChain, parseCaChain } from './ca-chain.js';
export {
  createIntermediateCa,
  createRootCa,
  createServerCertificate,
  issueClientCertificate,
} from './certificates.js';
export { CRL_REASONS, type CrlReason, createCrl } from './crl.js';
export { verifyCsr } from './csr.js';
export {
  certificateNameDers,
  describeCertificate,
  formatDistinguishedName,
  serialNumberText,
} from './describe.js';
export type { Signer } from './issuer.js';
export { generateKeyPair, isKeyAlgorithm, type KeyAlgorithm } from './keys.js';
export { generateMasterKey, openPrivateKey, parseMasterKey, sealPrivateKey } from './keywrap.js';
export { parsePem, parsePemBlocks, toPem } from './pem.js';
export { renewalTime } from './renewal.js';
export { checkRequiredPolicies, RequiredPolicies, requiredPolicyOptions } from './required-policies.js';
export {
  caChainFailure,
  type CertificateInput,
  type LegacyAllowances,
  type ParsedCertificate,
  parseCertificate,
  policySetAccepts,
  validPolicies,
  verifyChain,
} from './verify/index.js';
export { x509 } from './x509.js';
