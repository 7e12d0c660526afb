/** Devices: standard and hardware-backed registration, the device API's authentication, org settings. */
export { AttestationService } from './attestation/index.js';
export {
  type DeviceAuthorization,
  type DeviceLoginDeps,
  DeviceLogins,
  DEVICE_LOGIN_INTERVAL_S,
  DEVICE_LOGIN_STARTS_PER_MINUTE,
  DEVICE_LOGIN_TTL_S,
  type PendingDeviceLogin,
  USER_CODE_ALPHABET,
  USER_CODE_MISSES_PER_WINDOW,
} from './device-login.js';
export {
  type DevicePrincipal,
  type EnrollingIdentity,
  type Enroller,
  KEY_PROTECTIONS,
  RegistrationInput,
  type RegistrationResult,
  SettingsInput,
} from './registration.js';
export { type DeviceDeps, DeviceService } from './service.js';
