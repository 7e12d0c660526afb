/** Devices: standard and hardware-backed registration, the device API's authentication, org settings. */
export {
  type DevicePrincipal,
  DeviceService,
  type Enroller,
  KEY_PROTECTIONS,
  RegistrationInput,
  type RegistrationResult,
  SettingsInput,
} from './service.js';
