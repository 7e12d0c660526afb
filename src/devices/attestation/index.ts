/** TPM 2.0 attestation of device keys: parsing, MakeCredential, and the server's verification. */
export { type Credential, kdfa, kdfe, makeCredential } from './credential.js';
export {
  objectName,
  parseAttest,
  parseSignature,
  parseTpm2bPublic,
  parseTpmtPublic,
  spkiDer,
  TPM_ALG,
  TPMA_OBJECT,
  type TpmPublic,
  type TpmsAttest,
} from './tpm2.js';
export {
  type CertificationInput,
  checkAkPublic,
  checkDeviceKeyPublic,
  checkEkPublic,
  type EkTrust,
  verifyAkSignature,
  verifyCertification,
  verifyEk,
} from './verify.js';
export {
  ATTESTATION_TTL_S,
  type AttestationChallenge,
  AttestationChallengeInput,
  AttestationEvidence,
  type AttestationResult,
  AttestationService,
} from './service.js';
export {
  DEVICE_ASSURANCES,
  type DeviceAssuranceLevel,
  isDeviceAssurance,
  meetsAssurance,
} from './assurance.js';
