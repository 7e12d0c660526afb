import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AttestationChallengeInput, ATTESTATION_TTL_S } from '../../devices/attestation/index.js';
import type { TpmEkCa, TpmEkPin } from '../../store/index.js';
import type { ApiContext } from '../context.js';
import { Envelope, ok } from '../envelope.js';

const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const Timestamp = Type.String({ format: 'date-time' });
const tags = ['TPM attestation'];

const EkCaView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  subject: Type.String(),
  fingerprint_sha256: Type.String(),
  expires_on: Timestamp,
  certificates: Type.String({ description: 'PEM, the uploaded certificate first' }),
  created_on: Timestamp,
});
const ekCaView = (c: TpmEkCa) => ({
  id: c.id,
  name: c.name,
  subject: c.subject,
  fingerprint_sha256: c.fingerprint_sha256,
  expires_on: c.not_after,
  certificates: c.certificates_pem,
  created_on: c.created_at,
});
const EkPinView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  spki_sha256: Type.String(),
  created_on: Timestamp,
});
const ekPinView = (p: TpmEkPin) => ({
  id: p.id,
  name: p.name,
  spki_sha256: p.spki_sha256,
  created_on: p.created_at,
});

/** The agent's half: a challenge for a TPM-attested registration (no credentials needed yet). */
export const tpmAttestationRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { devices }) => {
  app.post(
    '/registrations/attestation/challenge',
    {
      schema: {
        tags,
        summary: 'Start a TPM-attested registration: MakeCredential for the AK and a nonce',
        description: `The EK must chain to an accepted EK CA (/tpm_ek_cas) or be pinned (/tpm_ek_pins); the AK must be a restricted signing key. Answer within ${ATTESTATION_TTL_S} s with POST /registrations carrying \`attestation\` (ActivateCredential's secret and the AK's certification of the CSR key over the nonce). Single use.`,
        security: [],
        body: AttestationChallengeInput,
        response: {
          201: Envelope(
            Type.Object({
              attestation_id: Type.String(),
              nonce: Type.String({ description: 'base64; the qualifying data of TPM2_Certify(Creation)' }),
              credential: Type.Object({
                id_object: Type.String({ description: 'TPM2B_ID_OBJECT contents, base64' }),
                encrypted_secret: Type.String({ description: 'TPM2B_ENCRYPTED_SECRET contents, base64' }),
              }),
              expires_on: Timestamp,
            }),
          ),
        },
      },
    },
    async (request, reply) => reply.status(201).send(ok(await devices.attestation.challenge(request.body))),
  );
};

/** Admin: the endorsement roots and pinned EKs that make a TPM trusted. Audited. */
export const tpmEkCaRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { devices }) => {
  app.post(
    '/tpm_ek_cas',
    {
      schema: {
        tags,
        summary: "Accept a TPM manufacturer's EK CA (PEM; root or intermediate, with its chain)",
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200 }),
            certificates: Type.String({
              minLength: 1,
              maxLength: 1_000_000,
              description: 'PEM chain of CA certificates',
            }),
          },
          { additionalProperties: false },
        ),
        response: { 201: Envelope(EkCaView) },
      },
    },
    async (request, reply) =>
      reply
        .status(201)
        .send(
          ok(
            ekCaView(
              await devices.attestation.uploadEkCa(
                { name: request.body.name, certificatesPem: request.body.certificates },
                request.actor,
              ),
            ),
          ),
        ),
  );
  app.get(
    '/tpm_ek_cas',
    { schema: { tags, summary: 'Accepted EK CAs', response: { 200: Envelope(Type.Array(EkCaView)) } } },
    async () => ok((await devices.attestation.listEkCas()).map(ekCaView)),
  );
  app.delete(
    '/tpm_ek_cas/:id',
    {
      schema: {
        tags,
        summary: 'Stop accepting an EK CA (registrations already attested keep their level)',
        params: IdParams,
        response: { 200: Envelope(Type.Object({ id: Type.String() })) },
      },
    },
    async (request) => {
      await devices.attestation.deleteEkCa(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );

  app.post(
    '/tpm_ek_pins',
    {
      schema: {
        tags,
        summary: 'Trust one TPM without an EK certificate, by its EK public key',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 200 }),
            ek_public: Type.Optional(
              Type.String({
                minLength: 4,
                maxLength: 2000,
                pattern: '^[A-Za-z0-9+/]+={0,2}$',
                description: 'TPM2B_PUBLIC of the EK, base64',
              }),
            ),
            spki_sha256: Type.Optional(
              Type.String({
                pattern: '^[0-9a-fA-F]{64}$',
                description: "SHA-256 of the EK's SubjectPublicKeyInfo DER",
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 201: Envelope(EkPinView) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(ok(ekPinView(await devices.attestation.pinEk(request.body, request.actor)))),
  );
  app.get(
    '/tpm_ek_pins',
    { schema: { tags, summary: 'Pinned EKs', response: { 200: Envelope(Type.Array(EkPinView)) } } },
    async () => ok((await devices.attestation.listEkPins()).map(ekPinView)),
  );
  app.delete(
    '/tpm_ek_pins/:id',
    {
      schema: {
        tags,
        summary: 'Remove a pinned EK',
        params: IdParams,
        response: { 200: Envelope(Type.Object({ id: Type.String() })) },
      },
    },
    async (request) => {
      await devices.attestation.deleteEkPin(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );
};
