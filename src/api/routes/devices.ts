import type { TLSSocket } from 'node:tls';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import {
  DEVICE_LOGIN_INTERVAL_S,
  DEVICE_LOGIN_TTL_S,
  type DevicePrincipal,
  type DeviceService,
  RegistrationInput,
  type RegistrationResult,
  SettingsInput,
  USER_CODE_ALPHABET,
} from '../../devices/index.js';
import { DEVICE_ASSURANCES } from '../../devices/attestation/index.js';
import type { OrganizationSettings, Registration, StoredIdentity } from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { Envelope, ok } from '../envelope.js';
import { originOf } from './device-login-pages.js';
import { postureDeviceRoutes } from './posture.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the device auth hook. */
    device?: DevicePrincipal;
  }
}

const Timestamp = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const Assurance = Type.Union(
  DEVICE_ASSURANCES.map((a) => Type.Literal(a)),
  {
    description: 'software < hardware_claimed (the agent says so) < tpm_attested (proved by TPM attestation)',
  },
);
const SettingsView = Type.Object({
  device_certificate_validity: Type.String(),
  require_hardware_backed_registration: Type.Boolean(),
  required_device_assurance: Nullable(Assurance),
});
const settingsView = (s: OrganizationSettings) => ({
  device_certificate_validity: s.device_certificate_validity,
  require_hardware_backed_registration: Boolean(s.require_hardware_backed_registration),
  required_device_assurance: s.required_device_assurance,
});

const EnrolledIdentity = Type.Object(
  { issuer: Type.String(), subject: Type.String(), email: Type.String() },
  { description: 'the user who signed in to approve an identity registration' },
);
const enrolledIdentity = (r: Registration) => {
  if (!r.enrolled_identity) return null;
  // Partial: rows written before every field was recorded.
  const { issuer, subject, email } = r.enrolled_identity as Partial<StoredIdentity>;
  return { issuer: issuer ?? '', subject: subject ?? '', email: email ?? '' };
};

const RegistrationMode = Type.Union([Type.Literal('standard'), Type.Literal('hardware_backed')]);
const RegistrationView = Type.Object(
  {
    id: Type.String(),
    device_id: Type.String(),
    mode: RegistrationMode,
    key_protection: Type.String(),
    assurance: Assurance,
    status: Type.String(),
    enrolled_by: Type.String({ description: 'service_token:<id> or identity:<email>' }),
    enrolled_identity: Nullable(EnrolledIdentity),
    certificate_id: Nullable(Type.String()),
    certificate_expires_on: Nullable(Timestamp),
    created_on: Timestamp,
    last_seen: Nullable(Timestamp),
    ended_on: Nullable(Timestamp),
  },
  { $id: 'Registration' },
);

const peerCertificate = (socket: unknown) =>
  (socket as Partial<TLSSocket>).getPeerX509Certificate?.() ?? undefined;
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

const registrationView = async (devices: DeviceService, r: Registration) => ({
  id: r.id,
  device_id: r.device_id,
  mode: r.mode,
  key_protection: r.key_protection,
  assurance: r.assurance,
  status: r.status,
  enrolled_by: r.enrolled_by,
  enrolled_identity: enrolledIdentity(r),
  certificate_id: r.certificate_id,
  certificate_expires_on: await devices.certificateExpiry(r),
  created_on: r.created_at,
  last_seen: r.last_seen_at,
  ended_on: r.ended_at,
});

const RegistrationCreated = Type.Object({
  registration_id: Type.String(),
  device_id: Type.String(),
  token: Type.String({ description: 'shown once; stored hashed' }),
  mode: Type.String(),
  assurance: Assurance,
  certificate: Type.Optional(Type.String()),
  certificate_chain: Type.Optional(Type.String()),
  certificate_expires_on: Type.Optional(Timestamp),
});
const registrationCreated = (r: RegistrationResult) => ({
  registration_id: r.registration.id,
  device_id: r.device.id,
  token: r.token,
  mode: r.registration.mode,
  assurance: r.registration.assurance,
  ...(r.certificatePem
    ? { certificate: r.certificatePem, certificate_chain: r.chainPem, certificate_expires_on: r.expiresOn }
    : {}),
});

/** Registration (service-token or identity authenticated) and the device's own API. */
export const deviceRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, context) => {
  const { devices, deviceLogins, posture } = context;
  app.post(
    '/registrations',
    {
      schema: {
        tags: ['Devices'],
        summary: 'Register a device (Gatehouse-Access-Client-Id/-Secret service token)',
        description:
          'With a csr the registration is hardware-backed: the response carries a certificate every later device call must present. Without a service token, see /registrations/device_authorization (identity registration).',
        security: [],
        body: RegistrationInput,
        response: { 201: Envelope(RegistrationCreated) },
      },
    },
    async (request, reply) => {
      const enroller = await devices.enrollerFromServiceToken(
        first(request.headers['gatehouse-access-client-id']),
        first(request.headers['gatehouse-access-client-secret']),
      );
      const r = await devices.register(request.body, enroller);
      return reply.status(201).send(ok(registrationCreated(r)));
    },
  );

  app.post(
    '/registrations/device_authorization',
    {
      schema: {
        tags: ['Devices'],
        summary: 'Identity registration: start a device login (RFC 8628 device authorization)',
        description:
          'The body is the registration request, checked now. Show the user verification_uri and user_code (or verification_uri_complete); they sign in through the organization identity provider there and approve. Then poll /registrations/device_token every `interval` seconds.',
        security: [],
        body: RegistrationInput,
        response: {
          200: Envelope(
            Type.Object({
              device_code: Type.String({ description: 'secret: only the agent polls with it' }),
              user_code: Type.String({
                description: `8 letters of ${USER_CODE_ALPHABET}, shown as XXXX-XXXX`,
              }),
              verification_uri: Type.String(),
              verification_uri_complete: Type.String(),
              expires_in: Type.Integer({ description: `seconds (${DEVICE_LOGIN_TTL_S})` }),
              interval: Type.Integer({ description: `seconds between polls (${DEVICE_LOGIN_INTERVAL_S})` }),
            }),
          ),
        },
      },
    },
    async (request) => ok(await deviceLogins.start(request.body, `${originOf(request)}/device`, request.ip)),
  );

  app.post(
    '/registrations/device_token',
    {
      schema: {
        tags: ['Devices'],
        summary: 'Identity registration: poll a device login; the registration once approved',
        description:
          'Until then 400 with the RFC 8628 code: authorization_pending, slow_down (polled faster than the interval; it grows by 5 s), access_denied, expired_token; invalid_grant for an unknown or used device_code. The device code works once.',
        security: [],
        body: Type.Object(
          { device_code: Type.String({ minLength: 1, maxLength: 200 }) },
          { additionalProperties: false },
        ),
        response: { 201: Envelope(RegistrationCreated) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(ok(registrationCreated(await deviceLogins.poll(request.body.device_code)))),
  );

  await app.register(async (plain) => {
    const self = plain.withTypeProvider<TypeBoxTypeProvider>();
    self.addHook('onRequest', async (request) => {
      const bearer = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
      request.device = await devices.authenticate(bearer, peerCertificate(request.raw.socket));
    });
    const principal = (request: { device?: DevicePrincipal }) => request.device as DevicePrincipal;
    // Without the outer prefix: the scope already has it.
    const { prefix: _prefix, ...postureContext } = context as ApiContext & { prefix?: string };
    await self.register(postureDeviceRoutes, postureContext);

    self.get(
      '/devices/self',
      {
        schema: {
          tags: ['Devices'],
          summary: 'The calling device: registration, device facts, org settings',
          security: [],
          response: {
            200: Envelope(
              Type.Object({
                registration: RegistrationView,
                device: Type.Record(Type.String(), Type.Unknown()),
                settings: SettingsView,
                posture_rules: Type.Array(Type.Unknown()),
              }),
            ),
          },
        },
      },
      async (request) => {
        const { registration, device } = principal(request);
        return ok({
          registration: await registrationView(devices, registration),
          device,
          settings: settingsView(await devices.settings()),
          posture_rules: await posture.rulesForDevice(device),
        });
      },
    );

    self.post(
      '/devices/self/renew',
      {
        schema: {
          tags: ['Devices'],
          summary: 'Renew the certificate with the same key, before it expires',
          security: [],
          body: Type.Object(
            { csr: Type.String({ minLength: 1, maxLength: 20_000 }) },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const renewed = await devices.renew(principal(request), request.body.csr);
        return ok({
          certificate: renewed.certificatePem,
          certificate_chain: renewed.chainPem,
          certificate_expires_on: renewed.expiresOn,
        });
      },
    );

    self.delete(
      '/devices/self',
      { schema: { tags: ['Devices'], summary: 'Unregister this device', security: [] } },
      async (request) => {
        await devices.unregister(principal(request));
        return ok({ id: principal(request).registration.id });
      },
    );
  });
};

/** A registration as GET /devices lists it under its device. */
const DeviceRegistrationView = Type.Object({
  id: Type.String(),
  mode: RegistrationMode,
  key_protection: Type.String(),
  assurance: Assurance,
  status: Type.String(),
  hardware_backed: Type.Boolean({ description: 'mode is hardware_backed' }),
  enrolled_by: Type.String({ description: 'service_token:<id> or identity:<email>' }),
  enrolled_identity: Nullable(EnrolledIdentity),
  certificate_expires_on: Nullable(Timestamp),
  last_seen: Nullable(Timestamp),
});
const DeviceView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    serial_number: Nullable(Type.String()),
    hostname: Nullable(Type.String()),
    os: Nullable(Type.String()),
    os_version: Nullable(Type.String()),
    model: Nullable(Type.String()),
    created_at: Timestamp,
    last_seen_at: Nullable(Timestamp),
    registrations: Type.Array(DeviceRegistrationView),
  },
  { $id: 'Device' },
);

/** The admin side: devices, registrations, organization settings. */
export const deviceAdminRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { devices }) => {
  const tags = ['Devices'];
  app.get(
    '/devices',
    {
      schema: {
        tags,
        summary: 'Devices with their registrations',
        response: { 200: Envelope(Type.Array(DeviceView)) },
      },
    },
    async () => {
      const { devices: list, registrations } = await devices.list();
      const expiry = new Map(
        await Promise.all(
          registrations.map(async (r) => [r.id, await devices.certificateExpiry(r)] as const),
        ),
      );
      return ok(
        list.map((d) => ({
          ...d,
          registrations: registrations
            .filter((r) => r.device_id === d.id)
            .map((r) => ({
              id: r.id,
              mode: r.mode,
              key_protection: r.key_protection,
              assurance: r.assurance,
              status: r.status,
              hardware_backed: r.mode === 'hardware_backed',
              enrolled_by: r.enrolled_by,
              enrolled_identity: enrolledIdentity(r),
              certificate_expires_on: expiry.get(r.id) ?? null,
              last_seen: r.last_seen_at,
            })),
        })),
      );
    },
  );
  app.get(
    '/registrations',
    {
      schema: {
        tags,
        summary: 'All registrations, newest first',
        response: { 200: Envelope(Type.Array(RegistrationView)) },
      },
    },
    async () =>
      ok(await Promise.all((await devices.list()).registrations.map((r) => registrationView(devices, r)))),
  );

  app.delete(
    '/registrations/:id',
    {
      schema: {
        tags,
        summary: 'Revoke a registration: its token stops working and its certificate lands in the CRL',
        params: Type.Object({ id: Type.String({ format: 'uuid' }) }),
      },
    },
    async (request) => {
      await devices.revoke(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );
  app.get(
    '/organization/settings',
    { schema: { tags, summary: 'Organization settings', response: { 200: Envelope(SettingsView) } } },
    async () => ok(settingsView(await devices.settings())),
  );
  app.patch(
    '/organization/settings',
    {
      schema: {
        tags,
        summary: 'Update organization settings',
        body: SettingsInput,
        response: { 200: Envelope(SettingsView) },
      },
    },
    async (request) => ok(settingsView(await devices.updateSettings(request.body, request.actor))),
  );
};
