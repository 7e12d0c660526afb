/** The device agent: registration, renewal, the daemon loop and the key providers behind them. */
export {
  backoff,
  type CheckInResult,
  checkIn,
  defaultMdmFile,
  posture,
  prepareStateDir,
  type RegisterOptions,
  register,
  renew,
  renewalTime,
  runAgent,
  type Status,
  status,
  unregister,
} from './agent.js';
export type { DeviceAuthorization } from './enroll.js';
export { KEY_PROTECTIONS } from './key-provider.js';
export type { KeyProtection } from './keys/index.js';
export { DEFAULT_NSSDB, type PostureOptions, type RuleOutcome } from './posture.js';
