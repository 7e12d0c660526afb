/** Devices: standard and hardware-backed registration, the device API's authentication, org settings. */
export {
  type DeviceAuthorization,
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
  DeviceService,
  type Enroller,
  KEY_PROTECTIONS,
  RegistrationInput,
  type RegistrationResult,
  SettingsInput,
} from './service.js';
