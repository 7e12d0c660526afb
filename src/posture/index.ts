/**
 * Device posture, the part devices and servers share: the rule model and schemas, the client
 * certificate check (pure) and the key proof. The agent imports only this; the control plane's
 * PostureService lives in ./server.ts so that the agent never loads the server (store, API).
 */
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
  locationAllowed,
  locationsOf,
  type PostureEvaluation,
  type RuleLocations,
} from './evaluate.js';
export { keyProofMessage, signKeyProof, verifyKeyProof } from './proof.js';
export {
  CertificateLocation,
  CertificateSummary,
  ClientCertificateInput,
  ClientCertificateV2Input,
  type DevicePostureRule,
  EKU_NAMES,
  EKU_OIDS,
  type EkuName,
  Match,
  type Platform,
  platformOf,
  PLATFORMS,
  POSTURE_REASONS,
  type PostureReason,
  PostureReport,
  PostureResultInput,
  type PostureRule,
  PostureRuleInput,
  type StoredResult,
  TRUST_STORES,
  type TrustStore,
} from './schema.js';
