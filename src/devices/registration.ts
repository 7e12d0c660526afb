// What a device registration is made of: the request, who enrols, and what the device receives.
// Shared by DeviceService (which makes registrations) and DeviceLogins (which approves them).
import { type Static, Type } from '@sinclair/typebox';
import type { verifyCsr } from '../pki/index.js';
import type { Device, Registration } from '../store/index.js';
import { AttestationEvidence, DEVICE_ASSURANCES } from './attestation/index.js';

export const KEY_PROTECTIONS = ['tpm2', 'pkcs11', 'software'] as const;

const Fact = (max: number) => Type.Optional(Type.String({ minLength: 1, maxLength: max }));

export const RegistrationInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    serial_number: Fact(200),
    hostname: Fact(253),
    os: Fact(50),
    os_version: Fact(100),
    model: Fact(200),
    key_protection: Type.Union(KEY_PROTECTIONS.map((k) => Type.Literal(k))),
    csr: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 20_000,
        description: 'PKCS#10 PEM; makes the registration hardware-backed',
      }),
    ),
    attestation: Type.Optional(AttestationEvidence),
    previous_registration_token: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description:
          "The token of this device's current registration, when registering again (another mode, an expired certificate): proves the request comes from that device, so the old registration may be replaced",
      }),
    ),
  },
  { additionalProperties: false },
);
export type RegistrationInput = Static<typeof RegistrationInput>;

export const SettingsInput = Type.Object(
  {
    device_certificate_validity: Type.Optional(Type.String({ description: 'e.g. "90d", "12h", "30s"' })),
    require_hardware_backed_registration: Type.Optional(Type.Boolean()),
    required_device_assurance: Type.Optional(
      Type.Union([...DEVICE_ASSURANCES.map((a) => Type.Literal(a)), Type.Null()], {
        description: 'lowest assurance a new registration may have (null: any)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type SettingsInput = Static<typeof SettingsInput>;

export interface RegistrationResult {
  registration: Registration;
  device: Device;
  token: string;
  certificatePem?: string;
  chainPem?: string;
  expiresOn?: string;
}

/** Who signed in to approve an identity registration. */
export interface EnrollingIdentity {
  issuer: string;
  subject: string;
  email: string;
}

/** Who may enrol a device: a service token, or a user who logged in with the org's IdP. */
export type Enroller = { kind: 'service_token'; id: string } | ({ kind: 'identity' } & EnrollingIdentity);

/** A registration request that passed the checks that need no writes (see DeviceService.check). */
export interface CheckedRegistration {
  input: RegistrationInput;
  csr?: Awaited<ReturnType<typeof verifyCsr>>;
}

export interface DevicePrincipal {
  registration: Registration;
  device: Device;
}
