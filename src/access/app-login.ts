import { isGatehouseError } from '../errors/index.js';
import { beginLogin, finishLogin } from './authenticate/index.js';
import {
  type AccessDecision,
  type AccessRequest,
  type AccessSnapshot,
  authorizeLogin,
  decideAccess,
} from './runtime.js';

/**
 * A request on an Access application, as the edge asks it: authorization decides (`decideAccess`,
 * pure); when it needs a login, authentication begins it (a redirect to the IdP) or, at the
 * callback, finishes it and the new identity is authorized like a request of its own.
 */
export async function handleAccess(
  snapshot: AccessSnapshot,
  req: AccessRequest,
  now: Date,
): Promise<AccessDecision> {
  const verdict = decideAccess(snapshot, req, now);
  const origin = `https://${req.authority}`;
  switch (verdict.kind) {
    case 'login_needed': {
      const login = await beginLogin(verdict.idp, 'app', {
        stateKey: snapshot.loginStateKey,
        origin,
        returnTo: verdict.returnTo,
        now,
      });
      return { kind: 'login', redirect: login.redirect, setCookie: [login.setCookie] };
    }
    case 'login_callback': {
      let login;
      try {
        login = await finishLogin('app', {
          stateKey: snapshot.loginStateKey,
          origin,
          callbackUrl: req.url,
          cookieHeader: req.headers.cookie,
          idp: (id) => snapshot.idps.get(id),
          now,
        });
      } catch (err) {
        // No state, or its IdP is gone: the browser is simply not signed in (401), as before.
        if (
          isGatehouseError(err) &&
          (err.code === 'login_state_missing' || err.code === 'identity_provider_removed')
        )
          return { kind: 'unauthenticated', reason: err.code };
        throw err;
      }
      const decision = authorizeLogin(snapshot, req, login, now);
      return decision.kind === 'allow'
        ? { ...decision, setCookie: [...(decision.setCookie ?? []), login.clearCookie] }
        : decision;
    }
    default:
      return verdict;
  }
}
