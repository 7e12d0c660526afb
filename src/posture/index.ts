/** Device posture: rules, the client certificate check (pure), key proofs, results and logs. */
export {
  type CandidateResult,
  type CertificateCheck,
  certificateBlocks,
  checkOf,
  type DeviceContext,
  evaluateCandidate,
  evaluateCertificates,
  expandCommonName,
  type FoundCertificate,
  type KeyEvidence,
  type PostureEvaluation,
} from './evaluate.js';
export { keyProofMessage, signKeyProof, verifyKeyProof } from './proof.js';
export {
  CertificateSummary,
  EKU_NAMES,
  EKU_OIDS,
  type EkuName,
  type Platform,
  PLATFORMS,
  POSTURE_REASONS,
  type PostureReason,
  PostureReport,
  type PostureRule,
  PostureResultInput,
  PostureRuleInput,
} from './schema.js';
export {
  DEFAULT_SCHEDULE,
  type DevicePostureRule,
  NONCE_LIFETIME_MS,
  platformOf,
  PostureService,
  resultView,
  ruleView,
  type StoredResult,
} from './service.js';
