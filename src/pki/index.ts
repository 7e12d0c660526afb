/** Public surface of the PKI domain: pure certificate, CSR, CRL and key handling. */
export { type AttachedCrlInfo, parseAttachedCrl } from './attached-crl.js';
export { type CaChain, parseCaChain } from './ca-chain.js';
export * from './certificates.js';
export * from './crl.js';
export * from './csr.js';
export * from './describe.js';
export * from './keys.js';
export * from './keywrap.js';
export { parsePem, parsePemBlocks, toPem } from './pem.js';
export { renewalTime } from './renewal.js';
export {
  checkRequiredPolicies,
  MAX_REQUIRED_POLICIES,
  policyOidProblem,
  RequiredPolicies,
  requiredPolicyOptions,
} from './required-policies.js';
export * from './verify/index.js';
