import { createHash, randomBytes, randomUUID, timingSafeEqual, type X509Certificate } from 'node:crypto';
import { type AccessService, parseDuration } from '../access/index.js';
import { type Actor, type ClientCertificateIssuer, type Clock, recordChange } from '../authority/index.js';
import { badRequest, conflict, type ErrorCode, GatehouseError, notFound } from '../errors/index.js';
import { verifyCsr } from '../pki/index.js';
import type {
  Device,
  DeviceAssurance,
  OrganizationSettings,
  Registration,
  Repositories,
  StoreFor,
} from '../store/index.js';
import { isUniqueViolation } from '../store/index.js';
import { type AttestationResult, type AttestationService, meetsAssurance } from './attestation/index.js';
import type {
  CheckedRegistration,
  DevicePrincipal,
  Enroller,
  RegistrationInput,
  RegistrationResult,
  SettingsInput,
} from './registration.js';

/** Device certificates may live up to ten years (the CA's limit), down to seconds (tests, kiosks). */
const MAX_DEVICE_CERT_MS = 3650 * 86_400_000;

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const tokenPrefix = 'ghd_';

/**
 * Device registration, standard and hardware-backed. A hardware-backed registration is bound to
 * a certificate issued from a CSR whose key lives in the device's TPM (or another token): every
 * later device call must present exactly that certificate, so a stolen bearer token is useless
 * elsewhere. Renewal must reuse the same key.
 */
export interface DeviceDeps {
  store: StoreFor<'settings' | 'devices' | 'registrations' | 'clientCertificates'>;
  now: Clock;
  /** The organization, as the settings' audit entries name it. */
  orgId: string;
  /** The org CA: hardware-backed registrations get their certificates from it. */
  certificates: ClientCertificateIssuer;
  /** Service-token credentials that may enrol devices. */
  serviceTokens: Pick<AccessService, 'verifyServiceToken'>;
  /** TPM attestation: EK roots and pins, challenges (issue 16). */
  attestation: AttestationService;
}

export class DeviceService {
  constructor(private readonly deps: DeviceDeps) {}

  private get store() {
    return this.deps.store;
  }

  /** TPM attestation: EK roots and pins, challenges (issue 16). */
  get attestation(): AttestationService {
    return this.deps.attestation;
  }

  async settings(): Promise<OrganizationSettings> {
    return this.store.settings.get();
  }

  async updateSettings(input: SettingsInput, actor: Actor): Promise<OrganizationSettings> {
    const current = await this.settings();
    const next: Omit<OrganizationSettings, 'id'> = {
      device_certificate_validity: input.device_certificate_validity ?? current.device_certificate_validity,
      require_hardware_backed_registration:
        input.require_hardware_backed_registration === undefined
          ? current.require_hardware_backed_registration
          : Number(input.require_hardware_backed_registration),
      required_device_assurance:
        input.required_device_assurance === undefined
          ? current.required_device_assurance
          : input.required_device_assurance,
      updated_at: this.deps.now().toISOString(),
    };
    const ms = parseDuration(next.device_certificate_validity, MAX_DEVICE_CERT_MS);
    if (ms < 1000) throw badRequest('invalid_duration', 'device_certificate_validity must be at least 1s');
    await this.store.transaction(async (tx) => {
      await tx.settings.update(next);
      await recordChange(
        tx,
        {
          actor,
          action: 'organization.settings.update',
          resourceType: 'organization',
          resourceId: this.deps.orgId,
          before: current,
          after: next,
        },
        this.deps.now(),
      );
    });
    return { id: 1, ...next };
  }

  /** Service-token credentials for POST /registrations (Gatehouse-Access-Client-Id/-Secret). */
  async enrollerFromServiceToken(
    clientId: string | undefined,
    secret: string | undefined,
  ): Promise<Enroller> {
    const token =
      clientId && secret ? await this.deps.serviceTokens.verifyServiceToken(clientId, secret) : undefined;
    if (!token)
      throw new GatehouseError(
        'invalid_service_token',
        'registration needs valid Gatehouse-Access-Client-Id/-Secret credentials or an identity login',
        401,
      );
    return { kind: 'service_token', id: token.id };
  }

  /**
   * The checks of a registration request that need no writes: a csr for token keys, the
   * organization's hardware-backed requirement, the CSR's signature and key type. Run when an
   * identity login starts (so the user is not sent to sign in for a request that cannot succeed)
   * and again when the registration is made.
   */
  async check(input: RegistrationInput): Promise<CheckedRegistration> {
    const settings = await this.settings();
    const hardwareBacked = input.csr !== undefined;
    if (input.key_protection !== 'software' && !hardwareBacked) {
      throw badRequest(
        'csr_required',
        `key_protection ${input.key_protection} needs a csr made with that key`,
      );
    }
    if (
      settings.require_hardware_backed_registration &&
      (!hardwareBacked || input.key_protection === 'software')
    ) {
      throw new GatehouseError(
        'hardware_backed_required',
        'this organization requires hardware-backed registration (a TPM or PKCS#11 key and a CSR)',
        403,
      );
    }
    // TPM attestation (issue 16): the claimed level is checked here, the evidence in register().
    if (input.attestation && (input.key_protection !== 'tpm2' || !hardwareBacked))
      throw badRequest('attestation_requires_tpm2', 'attestation needs key_protection tpm2 and a csr');
    const claimed = claimedAssurance(input);
    if (!meetsAssurance(claimed, settings.required_device_assurance))
      throw new GatehouseError(
        'device_assurance_required',
        `this organization requires device assurance ${settings.required_device_assurance ?? ''} (this registration would be ${claimed})`,
        403,
      );
    if (!input.csr) return { input };
    const csr = await verifyCsr(input.csr);
    const okKey =
      (csr.key.type === 'ec' && csr.key.curve === 'P-256') ||
      (csr.key.type === 'rsa' && csr.key.bits === 2048);
    if (!okKey) throw badRequest('unsupported_key_type', 'device keys must be ECDSA P-256 or RSA-2048');
    return { input, csr };
  }

  /**
   * Makes the registration. `within` runs in its transaction before the registration is stored
   * (an identity login consumes its device code there: both land, or neither).
   */
  async register(
    input: RegistrationInput,
    enroller: Enroller,
    opts: { within?: (tx: Repositories) => Promise<void> } = {},
  ): Promise<RegistrationResult> {
    const { csr } = await this.check(input);
    const attested: AttestationResult | undefined =
      input.attestation && csr
        ? await this.attestation.verify(input.attestation, csr.publicKeyDer)
        : undefined;
    const settings = await this.settings();
    const hardwareBacked = csr !== undefined;
    const now = this.deps.now();
    const actor: Actor =
      enroller.kind === 'service_token' ? `service_token:${enroller.id}` : `identity:${enroller.email}`;
    if (csr && (await this.store.registrations.keyRevoked(sha256(csr.publicKeyDer))))
      throw new GatehouseError(
        'key_revoked',
        'a certificate for this key was revoked (or its registration was): the key may never get another certificate; make a new key',
        403,
      );
    // Read again inside the transaction; what is read here only names the device in the certificate.
    const existing = input.serial_number ? await this.store.devices.bySerial(input.serial_number) : undefined;
    const device: Device = {
      id: existing?.id ?? randomUUID(),
      name: input.name,
      serial_number: input.serial_number ?? null,
      hostname: input.hostname ?? null,
      os: input.os ?? null,
      os_version: input.os_version ?? null,
      model: input.model ?? null,
      created_at: existing?.created_at ?? now.toISOString(),
      last_seen_at: now.toISOString(),
    };
    const registrationId = randomUUID();
    let certificate: Awaited<ReturnType<ClientCertificateIssuer['buildClientCertificate']>> | undefined;
    let publicKeySha256: string | null = null;
    if (csr) {
      publicKeySha256 = sha256(csr.publicKeyDer);
      certificate = await this.deps.certificates.buildClientCertificate({
        publicKeyPem: csr.publicKeyPem,
        validityDays: parseDuration(settings.device_certificate_validity, MAX_DEVICE_CERT_MS) / 86_400_000,
        commonName: device.id,
        uris: [`urn:gatehouse:device:${device.id}`, `urn:gatehouse:registration:${registrationId}`],
      });
    }
    const token = tokenPrefix + randomBytes(32).toString('base64url');
    const registration: Registration = {
      id: registrationId,
      device_id: device.id,
      mode: hardwareBacked ? 'hardware_backed' : 'standard',
      key_protection: input.key_protection,
      token_hash: sha256(token),
      certificate_id: certificate?.id ?? null,
      certificate_fingerprint: certificate?.fingerprint_sha256 ?? null,
      public_key_sha256: publicKeySha256,
      enrolled_by: actor,
      enrolled_identity:
        enroller.kind === 'identity'
          ? { issuer: enroller.issuer, subject: enroller.subject, email: enroller.email }
          : null,
      status: 'active',
      created_at: now.toISOString(),
      last_seen_at: null,
      ended_at: null,
      assurance: attested ? 'tpm_attested' : claimedAssurance(input),
    };
    const raced = () =>
      conflict(
        'device_already_registered',
        `another registration for serial number ${input.serial_number ?? ''} was made at the same time: register again from that device (its agent sends the previous registration token), or have an admin revoke the registration first`,
      );
    await this.store.transaction(async (tx) => {
      await opts.within?.(tx);
      // Serialized per serial number: a device created since the read above means a concurrent
      // registration won; the unique indexes (serial number, one active registration per device)
      // catch what this check cannot see yet (PostgreSQL, read committed).
      const current = input.serial_number ? await tx.devices.bySerial(input.serial_number) : undefined;
      if (current?.id !== existing?.id) throw raced();
      if (existing) {
        // One device, one registration: registering again (in either mode) replaces the old one,
        // but only for the device itself. A serial number is no secret: without proof, anyone
        // able to enrol could end another device's registration and take over its record.
        const active = await tx.registrations.activeFor(device.id);
        if (active.length > 0 && !mayReplace(active, input, enroller))
          throw conflict(
            'device_already_registered',
            `a device with serial number ${input.serial_number ?? ''} has an active registration: register again from that device (its agent sends the previous registration token), or have an admin revoke the registration first`,
          );
        await tx.devices.update(device);
        for (const old of active) if (!(await this.#end(tx, old, 'replaced', actor))) throw raced();
      } else {
        await uniquely(() => tx.devices.insert(device), raced);
      }
      if (certificate) await this.deps.certificates.storeClientCertificate(tx, certificate, actor);
      await uniquely(() => tx.registrations.insert(registration), raced);
      // Edges learn the new certificate's assurance level with the posture version.
      await recordChange(
        tx,
        {
          actor,
          reload: certificate ? 'posture' : undefined,
          action: 'registration.create',
          resourceType: 'registration',
          resourceId: registrationId,
          before: null,
          after: {
            device_id: device.id,
            mode: registration.mode,
            key_protection: registration.key_protection,
            assurance: registration.assurance,
            ...(attested ? { attestation: attested } : {}),
          },
        },
        now,
      );
    });
    return {
      registration,
      device,
      token,
      ...(certificate
        ? {
            certificatePem: certificate.certificate_pem,
            chainPem: await this.deps.certificates.orgCaChainPem(),
            expiresOn: certificate.not_after,
          }
        : {}),
    };
  }

  async #end(
    tx: Repositories,
    registration: Registration,
    status: 'revoked' | 'replaced',
    actor: Actor,
  ): Promise<boolean> {
    if (!(await tx.registrations.end(registration.id, status, this.deps.now().toISOString()))) return false;
    if (registration.certificate_id)
      await this.deps.certificates.revokeIn(
        tx,
        registration.certificate_id,
        status === 'replaced' ? 'superseded' : 'cessationOfOperation',
        actor,
      );
    await recordChange(
      tx,
      {
        actor,
        action: `registration.${status === 'replaced' ? 'replace' : 'revoke'}`,
        // Edges drop its assurance level (and posture) with the posture version.
        reload: 'posture',
        resourceType: 'registration',
        resourceId: registration.id,
        before: { status: 'active' },
        after: { status },
      },
      this.deps.now(),
    );
    return true;
  }

  /**
   * Authenticates a device API call: the bearer token of an active registration and, when the
   * registration is hardware-backed, the very certificate issued to it on this TLS connection.
   */
  async authenticate(
    bearer: string | undefined,
    peer: X509Certificate | undefined,
  ): Promise<DevicePrincipal> {
    const unauthorized = (code: ErrorCode, message: string) => new GatehouseError(code, message, 401);
    if (!bearer) throw unauthorized('unauthenticated', 'missing Authorization: Bearer <device token>');
    const registration = await this.store.registrations.byTokenHash(sha256(bearer));
    if (!registration) throw unauthorized('invalid_token', 'the device token is not valid');
    if (registration.status !== 'active')
      throw unauthorized(
        'registration_ended',
        `this registration was ${registration.status}; register again`,
      );
    if (registration.certificate_id) {
      // The registration's certificate must still be good: a certificate revoked by an admin
      // (DELETE /client_certificates/{id}) ends the registration, whatever the token says.
      const certificate = await this.store.clientCertificates.get(registration.certificate_id);
      if (certificate?.status !== 'active') {
        await this.certificateRevoked(registration.certificate_id, `registration:${registration.id}`);
        throw unauthorized(
          'certificate_revoked',
          "this registration's certificate was revoked: the registration has ended and its key may not register again",
        );
      }
    }
    if (registration.mode === 'hardware_backed') {
      if (!peer)
        throw unauthorized(
          'certificate_required',
          'this registration is hardware-backed: present its client certificate',
        );
      if (sha256(peer.raw) !== registration.certificate_fingerprint) {
        throw unauthorized(
          'certificate_mismatch',
          'the client certificate is not the one issued to this registration',
        );
      }
      if (Date.parse(peer.validTo) <= this.deps.now().getTime()) {
        throw unauthorized(
          'certificate_expired',
          "the registration's certificate has expired; register again",
        );
      }
    }
    const device = await this.store.devices.get(registration.device_id);
    if (!device) throw unauthorized('invalid_token', 'the device no longer exists');
    const at = this.deps.now().toISOString();
    await this.store.registrations.touch(registration.id, at);
    await this.store.devices.touch(device.id, at);
    return { registration, device };
  }

  /** A new certificate for the same key, before the current one expires; the old one is superseded. */
  async renew(
    principal: DevicePrincipal,
    csrPem: string,
  ): Promise<{ certificatePem: string; chainPem: string; expiresOn: string }> {
    const { registration } = principal;
    if (registration.mode !== 'hardware_backed')
      throw badRequest(
        'not_hardware_backed',
        'only hardware-backed registrations have a certificate to renew',
      );
    const csr = await verifyCsr(csrPem);
    if (sha256(csr.publicKeyDer) !== registration.public_key_sha256) {
      throw badRequest(
        'key_mismatch',
        "renewal must use the registration's key (the CSR's public key differs)",
      );
    }
    const settings = await this.settings();
    const actor: Actor = `registration:${registration.id}`;
    const certificate = await this.deps.certificates.buildClientCertificate({
      publicKeyPem: csr.publicKeyPem,
      validityDays: parseDuration(settings.device_certificate_validity, MAX_DEVICE_CERT_MS) / 86_400_000,
      commonName: principal.device.id,
      uris: [`urn:gatehouse:device:${principal.device.id}`, `urn:gatehouse:registration:${registration.id}`],
    });
    await this.store.transaction(async (tx) => {
      await this.deps.certificates.storeClientCertificate(tx, certificate, actor);
      // Superseding the current certificate is the guard against a revocation (or an ended
      // registration) landing since authentication: only an active certificate can be renewed.
      if (
        !registration.certificate_id ||
        !(await this.deps.certificates.revokeIn(tx, registration.certificate_id, 'superseded', actor)) ||
        (await tx.registrations.get(registration.id))?.status !== 'active'
      )
        throw new GatehouseError(
          'certificate_revoked',
          "this registration's certificate was revoked or the registration ended: renewal refused",
          401,
        );
      await tx.registrations.setCertificate(registration.id, certificate.id, certificate.fingerprint_sha256);
      await recordChange(
        tx,
        {
          actor,
          action: 'registration.renew',
          reload: 'posture',
          resourceType: 'registration',
          resourceId: registration.id,
          before: { certificate_id: registration.certificate_id },
          after: { certificate_id: certificate.id },
        },
        this.deps.now(),
      );
    });
    return {
      certificatePem: certificate.certificate_pem,
      chainPem: await this.deps.certificates.orgCaChainPem(),
      expiresOn: certificate.not_after,
    };
  }

  /**
   * A certificate was revoked outside the registration's own life (an admin, through the client
   * certificate API): the registration it belongs to ends as revoked, and posture results judged
   * for it stop counting at the edges. Idempotent; a certificate of no registration is ignored.
   */
  async certificateRevoked(certificateId: string, actor: Actor): Promise<void> {
    await this.store.transaction(async (tx) => {
      const registration = await tx.registrations.activeByCertificate(certificateId);
      if (!registration) return;
      await this.#end(tx, registration, 'revoked', actor);
    });
  }

  async unregister(principal: DevicePrincipal): Promise<void> {
    await this.store.transaction((tx) =>
      this.#end(tx, principal.registration, 'revoked', `registration:${principal.registration.id}`),
    );
  }

  async revoke(registrationId: string, actor: Actor): Promise<void> {
    const registration = await this.store.registrations.get(registrationId);
    if (!registration) throw notFound('registration', registrationId);
    await this.store.transaction((tx) => this.#end(tx, registration, 'revoked', actor));
  }

  async list(): Promise<{ devices: Device[]; registrations: Registration[] }> {
    const [devices, registrations] = await Promise.all([
      this.store.devices.all(),
      this.store.registrations.all(),
    ]);
    return { devices, registrations };
  }

  async certificateExpiry(registration: Registration): Promise<string | null> {
    if (!registration.certificate_id) return null;
    return (await this.store.clientCertificates.get(registration.certificate_id))?.not_after ?? null;
  }
}

/** Runs an insert; a unique-index violation (a concurrent registration won) becomes `raced()`. */
async function uniquely(insert: () => Promise<void>, raced: () => GatehouseError): Promise<void> {
  try {
    await insert();
  } catch (err) {
    if (isUniqueViolation(err)) throw raced();
    throw err;
  }
}

/** The level a request can reach before its evidence is verified (tpm_attested only with evidence). */
function claimedAssurance(input: RegistrationInput): DeviceAssurance {
  if (input.attestation) return 'tpm_attested';
  return input.csr !== undefined && input.key_protection !== 'software' ? 'hardware_claimed' : 'software';
}

/**
 * Whether a new registration may replace a device's active ones: the request carries the token
 * of one of them (the device's own agent), or the same person enrolls again (identity).
 */
function mayReplace(active: readonly Registration[], input: RegistrationInput, enroller: Enroller): boolean {
  const presented = input.previous_registration_token;
  if (presented !== undefined) {
    const hash = Buffer.from(sha256(presented), 'hex');
    if (active.some((r) => timingSafeEqual(Buffer.from(r.token_hash, 'hex'), hash))) return true;
  }
  if (enroller.kind !== 'identity') return false;
  return active.some((r) => {
    if (!r.enrolled_identity) return false;
    const who = r.enrolled_identity;
    return who.issuer === enroller.issuer && who.subject === enroller.subject;
  });
}
