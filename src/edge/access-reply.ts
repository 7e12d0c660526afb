/**
 * Access applications at the edge: the request they judge, and their decision as what the edge
 * does next: forward (adding the token, the session cookie) or answer itself (denied, login
 * redirect, callback, JWKS). accessResult is the pure decision → reply mapping.
 */
import type { IncomingMessage } from 'node:http';
import { type AccessDecision, type AccessRequest, handleAccess } from '../access/index.js';
import { isGatehouseError } from '../errors/index.js';
import type { ClientCertVerdict } from './headers.js';
import { type EdgeResponse, edgeError } from './responses.js';
import type { EdgeServerOptions } from './server.js';
import type { EdgeSnapshot, HostRuntime } from './snapshot.js';

export type AccessResult =
  | { kind: string; forward: { assertion?: string; setCookie?: string[] } }
  | { kind: string; reply: { status: number; headers: Record<string, string | string[]>; body: string } };

const fromEdge = (kind: string, r: EdgeResponse): AccessResult => ({
  kind,
  reply: {
    status: r.status,
    headers: { 'content-type': r.contentType, 'cache-control': 'no-store' },
    body: r.body,
  },
});

const redirectTo = (
  kind: string,
  location: string,
  setCookie: readonly string[] | undefined,
): AccessResult => ({
  kind,
  reply: {
    status: 302,
    headers: {
      location,
      'cache-control': 'no-store',
      ...(setCookie?.length ? { 'set-cookie': [...setCookie] } : {}),
    },
    body: '',
  },
});

/** The decision of the hostname's access applications → forward (with what) or the reply. */
export function accessResult(decision: AccessDecision, accept: string | undefined): AccessResult {
  switch (decision.kind) {
    case 'none':
    case 'bypass':
      return { kind: decision.kind, forward: {} };
    case 'allow':
      if (decision.redirect) return redirectTo('login_complete', decision.redirect, decision.setCookie);
      return { kind: 'allow', forward: { assertion: decision.assertion, setCookie: decision.setCookie } };
    case 'deny':
      return fromEdge(
        'deny',
        edgeError(403, 'access_denied', `Forbidden: access denied (${decision.reason})`, accept),
      );
    case 'unauthenticated':
      return fromEdge(
        'unauthenticated',
        edgeError(401, decision.reason, 'Unauthorized: sign in through the identity provider first', accept),
      );
    case 'login':
      return redirectTo('login', decision.redirect, decision.setCookie);
    case 'jwks':
      return {
        kind: 'jwks',
        reply: {
          status: 200,
          headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
          body: JSON.stringify(decision.body),
        },
      };
  }
}

/** A decision that failed → the reply: a Gatehouse error's own status and code, otherwise 500. */
export function accessFailure(err: unknown, accept: string | undefined): AccessResult {
  const e = isGatehouseError(err) ? err : undefined;
  return fromEdge(
    'error',
    edgeError(
      e?.status ?? 500,
      e?.code ?? 'internal_error',
      e?.message ?? 'Access could not decide this request',
      accept,
    ),
  );
}

/** Asks the hostname's access applications about an admitted request. */
export async function runAccess(
  options: Pick<EdgeServerOptions, 'logger' | 'posture' | 'deviceAssurance'>,
  req: IncomingMessage,
  client: string | undefined,
  host: HostRuntime,
  verdict: ClientCertVerdict,
  snapshot: EdgeSnapshot,
): Promise<AccessResult> {
  const cert = verdict.status === 'valid' ? verdict.cert : undefined;
  const accept = req.headers.accept;
  let decision: AccessDecision;
  const now = new Date();
  try {
    decision = await handleAccess(
      snapshot.access,
      {
        hostname: host.hostname,
        authority: req.headers.host ?? host.hostname,
        url: req.url ?? '/',
        headers: req.headers as AccessRequest['headers'],
        ip: client ?? '',
        ...(cert
          ? {
              certificate: {
                der: cert.der,
                sha256: cert.sha256,
                commonName: cert.subjectAttributes.get('CN')?.at(-1),
                policies: cert.policies,
                deviceAssurance: options.deviceAssurance?.(cert.sha256),
              },
              ...(options.posture ? { passingPosture: options.posture(cert.sha256, now.getTime()) } : {}),
            }
          : {}),
        browser: !/\bapplication\/json\b/i.test(accept ?? '') && /\btext\/html\b/i.test(accept ?? ''),
      },
      now,
    );
  } catch (err) {
    if (!isGatehouseError(err))
      options.logger.error({ err, hostname: host.hostname }, 'access decision failed');
    return accessFailure(err, accept);
  }
  return accessResult(decision, accept);
}
