import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { DevicePrincipal } from '../../devices/index.js';
import {
  CertificateSummary,
  ClientCertificateInput,
  ClientCertificateV2Input,
  Match,
  POSTURE_REASONS,
  PostureReport,
  PostureRuleInput,
} from '../../posture/index.js';
import type { ApiContext } from '../context.js';
import { Envelope, ListEnvelope, ok, okList, Pagination, toPage } from '../envelope.js';

const tags = ['Device posture'];
const IdParams = Type.Object({ id: Type.String({ format: 'uuid' }) });
const Timestamp = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const ruleFields = {
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  type: Type.Union([Type.Literal('client_certificate_v2'), Type.Literal('client_certificate')]),
  description: Type.String(),
  schedule: Type.String(),
  expiration: Nullable(Type.String()),
  match: Match,
  input: Type.Union([ClientCertificateV2Input, ClientCertificateInput]),
  created_on: Timestamp,
  updated_on: Timestamp,
};
export const PostureRuleView = Type.Object(ruleFields, { $id: 'PostureRule' });
const DevicePostureRuleView = Type.Object({
  ...ruleFields,
  ca_certificates: Type.String({ description: "the rule's CA certificates (PEM), to validate chains" }),
  schedule_seconds: Type.Integer({ description: '`schedule` in seconds' }),
});

const Reason = Type.Union(POSTURE_REASONS.map((r) => Type.Literal(r)));
export const PostureResultView = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    device_id: Type.String(),
    device_name: Type.String(),
    registration_id: Type.String(),
    rule_id: Type.String(),
    rule_name: Type.String(),
    success: Type.Boolean(),
    reasons: Type.Array(Reason),
    certificate: Nullable(CertificateSummary),
    key_proved: Type.Boolean({ description: 'the private key was proved by a verified nonce signature' }),
    reported_on: Timestamp,
    expires_on: Nullable(Timestamp),
  },
  { $id: 'PostureResult' },
);
const StatusView = Type.Object({
  rule_id: Type.String(),
  success: Type.Boolean({ description: 'false when the latest result failed or has expired' }),
  reported_on: Timestamp,
  expires_on: Nullable(Timestamp),
});

/** Admin: posture rules and the posture logs. */
export const postureAdminRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { posture }) => {
  app.post(
    '/devices/posture',
    {
      schema: {
        tags,
        summary: 'Create a device posture rule (client_certificate_v2 or client_certificate)',
        body: PostureRuleInput,
        response: { 201: Envelope(PostureRuleView) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(ok(await posture.createRule(request.body, request.actor))),
  );
  app.get(
    '/devices/posture',
    {
      schema: {
        tags,
        summary: 'Device posture rules',
        response: { 200: Envelope(Type.Array(PostureRuleView)) },
      },
    },
    async () => ok(await posture.listRules()),
  );
  app.get(
    '/devices/posture/logs',
    {
      schema: {
        tags,
        summary: 'Posture results reported by devices, newest first',
        querystring: Type.Composite([
          Pagination,
          Type.Object({
            device_id: Type.Optional(Type.String({ format: 'uuid' })),
            rule_id: Type.Optional(Type.String({ format: 'uuid' })),
            result: Type.Optional(Type.Union([Type.Literal('pass'), Type.Literal('fail')])),
            since: Type.Optional(Type.String({ format: 'date-time', description: 'reported at or after' })),
            until: Type.Optional(Type.String({ format: 'date-time', description: 'reported before' })),
          }),
        ]),
        response: { 200: ListEnvelope(PostureResultView) },
      },
    },
    async (request) => {
      const q = request.query;
      const { items, total } = await posture.logs(
        {
          deviceId: q.device_id,
          ruleId: q.rule_id,
          success: q.result === undefined ? undefined : q.result === 'pass',
          // Normalised to the stored form (UTC, milliseconds) so string comparison orders by time.
          from: q.since ? new Date(q.since).toISOString() : undefined,
          to: q.until ? new Date(q.until).toISOString() : undefined,
        },
        toPage(q),
      );
      return okList(items, total, q);
    },
  );
  app.get(
    '/devices/posture/:id',
    {
      schema: {
        tags,
        summary: 'One posture rule',
        params: IdParams,
        response: { 200: Envelope(PostureRuleView) },
      },
    },
    async (request) => ok(await posture.getRule(request.params.id)),
  );
  app.put(
    '/devices/posture/:id',
    {
      schema: {
        tags,
        summary: 'Replace a posture rule',
        params: IdParams,
        body: PostureRuleInput,
        response: { 200: Envelope(PostureRuleView) },
      },
    },
    async (request) => ok(await posture.replaceRule(request.params.id, request.body, request.actor)),
  );
  app.delete(
    '/devices/posture/:id',
    {
      schema: {
        tags,
        summary: 'Delete a posture rule (policies naming it stop passing)',
        params: IdParams,
        response: { 200: Envelope(Type.Object({ id: Type.String() })) },
      },
    },
    async (request) => {
      await posture.deleteRule(request.params.id, request.actor);
      return ok({ id: request.params.id });
    },
  );
};

/** The device side; registered inside the device API's authentication scope. */
export const postureDeviceRoutes: FastifyPluginAsyncTypebox<ApiContext> = async (app, { posture }) => {
  const principal = (request: { device?: DevicePrincipal }) => request.device as DevicePrincipal;
  app.get(
    '/devices/self/posture',
    {
      schema: {
        tags,
        summary: "The rules for this device's platform and its current status per rule",
        security: [],
        response: {
          200: Envelope(
            Type.Object({ rules: Type.Array(DevicePostureRuleView), status: Type.Array(StatusView) }),
          ),
        },
      },
    },
    async (request) => {
      const { device } = principal(request);
      return ok({ rules: await posture.rulesForDevice(device), status: await posture.statusFor(device.id) });
    },
  );
  app.post(
    '/devices/self/posture/nonce',
    {
      schema: {
        tags,
        summary: 'A single-use nonce (5 minutes) to sign with certificate keys for the key check',
        security: [],
        response: { 201: Envelope(Type.Object({ nonce: Type.String(), expires_on: Timestamp })) },
      },
    },
    async (request, reply) =>
      reply.status(201).send(ok(await posture.issueNonce(principal(request).registration))),
  );
  app.post(
    '/devices/self/posture',
    {
      schema: {
        tags,
        summary: 'Report posture results (a reported pass is re-checked by the server)',
        security: [],
        body: Type.Composite(
          [
            PostureReport,
            Type.Object({
              device: Type.Optional(
                Type.Object(
                  {
                    serial_number: Type.Optional(Type.String({ maxLength: 200 })),
                    hostname: Type.Optional(Type.String({ maxLength: 253 })),
                  },
                  { additionalProperties: false },
                ),
              ),
            }),
          ],
          { additionalProperties: false },
        ),
        response: { 201: Envelope(Type.Array(PostureResultView)) },
      },
    },
    async (request, reply) => {
      // `device` (facts the agent reads) is accepted from older agents and ignored: only the
      // registered facts count.
      const { device: _ignored, ...report } = request.body;
      return reply.status(201).send(ok(await posture.report(principal(request), report)));
    },
  );
};
