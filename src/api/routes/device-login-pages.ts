// The browser side of identity registration, on the control plane: /device (enter or check the
// user code, see which device asks), /device/approve (sign in through the organization's identity
// provider), /device/deny, and /device/callback (the IdP's redirect back, which approves the
// device login as the signed-in user). HTML pages, not API: errors are pages too.
//
// The approve and deny forms carry a token that must equal a SameSite=Strict cookie set with the
// page, so another site cannot submit them for a user who is signed in at the IdP (approving an
// attacker's device in that user's name). The pages may not be framed (clickjacking).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { readCookies, setCookie } from '../../access/index.js';
import type { PendingDeviceLogin } from '../../devices/index.js';
import { escapeHtml, GatehouseError, isGatehouseError } from '../../errors/index.js';
import type { ApiContext } from '../context.js';

const CSRF_COOKIE = 'Gatehouse_Device_Csrf';
const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** https://<the Host the client used>: where the agent and the browser reach this control plane. */
export function originOf(request: FastifyRequest): string {
  const host = request.headers.host ?? '';
  if (!HOST.test(host))
    throw new GatehouseError('invalid_request', 'the Host header is not a host name', 400);
  return `https://${host}`;
}

function page(reply: FastifyReply, status: number, title: string, body: string, cookies: string[] = []) {
  reply
    .status(status)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    )
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer');
  if (cookies.length) reply.header('set-cookie', cookies);
  return reply.send(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Gatehouse</title>` +
      '<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}' +
      'code,.code{font-family:ui-monospace,monospace}.code{font-size:1.6rem;letter-spacing:.15em}' +
      'th{text-align:left;padding-right:1rem}button{font-size:1rem;padding:.4rem 1rem}</style></head>' +
      `<body><h1>${escapeHtml(title)}</h1>${body}</body></html>\n`,
  );
}

const entryForm = (value = '') =>
  '<form method="get" action="/device"><p><label>Code shown on the device: ' +
  `<input name="user_code" value="${escapeHtml(value)}" autocomplete="off" autofocus></label> ` +
  '<button type="submit">Continue</button></p></form>';

function confirmation(login: PendingDeviceLogin, csrf: string): string {
  const r = login.request;
  const facts: [string, string | undefined][] = [
    ['Name', r.name],
    ['Host name', r.hostname],
    ['Serial number', r.serial_number],
    ['System', [r.os, r.os_version].filter(Boolean).join(' ') || undefined],
    ['Model', r.model],
    [
      'Key',
      r.csr
        ? `${r.key_protection} (hardware-backed registration)`
        : `${r.key_protection} (standard registration)`,
    ],
  ];
  const rows = facts
    .filter((f): f is [string, string] => Boolean(f[1]))
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('');
  const hidden =
    `<input type="hidden" name="user_code" value="${escapeHtml(login.userCode)}">` +
    `<input type="hidden" name="csrf" value="${escapeHtml(csrf)}">`;
  const idps =
    login.identityProviders.length > 1
      ? `<p><label>Sign in with <select name="idp">${login.identityProviders
          .map((i) => `<option value="${escapeHtml(i.id)}">${escapeHtml(i.name)}</option>`)
          .join('')}</select></label></p>`
      : '';
  return (
    `<p>Check that the device shows this code:</p><p class="code">${escapeHtml(login.userCode)}</p>` +
    `<p>A device asks to be registered in your name:</p><table>${rows}</table>` +
    `<form method="post" action="/device/approve">${hidden}${idps}` +
    '<p><button type="submit">Sign in and register this device</button></p></form>' +
    `<form method="post" action="/device/deny">${hidden}` +
    '<p><button type="submit">This is not my device: deny</button></p></form>' +
    `<p>If you did not start a registration on a device of yours, deny it. The code expires at ${escapeHtml(login.expiresAt)}.</p>`
  );
}

function checkCsrf(request: FastifyRequest, presented: string): void {
  const expected = readCookies(request.headers.cookie, CSRF_COOKIE);
  const given = Buffer.from(presented);
  const ok = expected.some((v) => {
    const b = Buffer.from(v);
    return b.length === given.length && timingSafeEqual(b, given);
  });
  if (!ok)
    throw new GatehouseError(
      'csrf_check_failed',
      'this form did not come from the page this site showed you: open the link from the device again',
      403,
    );
}

const CodeForm = Type.Object(
  {
    user_code: Type.String({ maxLength: 32 }),
    csrf: Type.String({ maxLength: 64 }),
    idp: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const deviceLoginPages: FastifyPluginAsyncTypebox<ApiContext> = async (app, { deviceLogins }) => {
  const logins = deviceLogins;
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 4096 },
    (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  // Errors here are pages for a person, not API envelopes.
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const known = isGatehouseError(err) && err.status < 500;
    if (!known && !err.validation) request.log.error({ err }, 'device login page failed');
    const status = known ? (err as GatehouseError).status : err.validation ? 400 : 500;
    const message = known || err.validation ? err.message : 'internal error';
    return page(
      reply,
      status,
      'Device registration',
      `<p>${escapeHtml(message)}</p>${status === 404 ? entryForm() : ''}`,
    );
  });

  const hide = { hide: true };
  app.get(
    '/device',
    {
      schema: {
        ...hide,
        querystring: Type.Object({ user_code: Type.Optional(Type.String({ maxLength: 32 })) }),
      },
    },
    async (request, reply) => {
      const typed = request.query.user_code;
      if (!typed) return page(reply, 200, 'Register a device', entryForm());
      const login = await logins.pending(typed, request.ip);
      const csrf = randomBytes(24).toString('base64url');
      return page(reply, 200, 'Register a device', confirmation(login, csrf), [
        setCookie(CSRF_COOKIE, csrf, { maxAgeSeconds: 600, path: '/device', sameSite: 'Strict' }),
      ]);
    },
  );

  app.post('/device/approve', { schema: { ...hide, body: CodeForm } }, async (request, reply) => {
    checkCsrf(request, request.body.csrf);
    const started = await logins.beginSignIn(
      request.body.user_code,
      request.body.idp,
      originOf(request),
      request.ip,
    );
    reply.header('set-cookie', started.setCookie);
    return reply.redirect(started.redirect, 303);
  });

  app.post('/device/deny', { schema: { ...hide, body: CodeForm } }, async (request, reply) => {
    checkCsrf(request, request.body.csrf);
    const login = await logins.deny(request.body.user_code, request.ip);
    return page(
      reply,
      200,
      'Registration denied',
      `<p>The device ${escapeHtml(login.request.name)} was not registered; it has been told so.</p>`,
    );
  });

  app.get('/device/callback', { schema: hide }, async (request, reply) => {
    const done = await logins.completeSignIn({
      origin: originOf(request),
      callbackUrl: request.url,
      cookieHeader: request.headers.cookie,
    });
    return page(
      reply,
      200,
      'Device approved',
      `<p>Signed in as <strong>${escapeHtml(done.identity.email)}</strong>. The device ` +
        `<strong>${escapeHtml(done.request.name)}</strong> finishes its registration by itself within a few seconds.</p>` +
        '<p>You can close this window.</p>',
      [done.clearCookie],
    );
  });
};
