import { type FormEvent, useEffect, useState } from 'react';
import { api, ApiError, auth } from '../api';
import { Field } from '../components';
import { useLocation } from '../router';

const REASONS: Record<string, string> = {
  admin_not_allowed: 'That account is not on the list of Gatehouse admins.',
  login_state_missing: 'The sign-in took too long or cookies are blocked. Try again.',
  login_state_invalid: 'The sign-in expired. Try again.',
  state_mismatch: 'The sign-in did not match this browser. Try again.',
  idp_error: 'The identity provider refused the sign-in.',
  email_not_verified: 'The identity provider has not verified that e-mail address.',
  admin_oidc_disabled: 'Single sign-on for admins is not configured.',
};

export function SignInPage(props: { onSignedIn: (actor: string) => void }) {
  const { query } = useLocation();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [oidc, setOidc] = useState<{ identity_provider: string; login_url: string } | null>(null);
  const callbackError = query.get('error');

  useEffect(() => {
    api
      .get<{ oidc: { identity_provider: string; login_url: string } | null }>('/admin/sign_in')
      .then((r) => setOidc(r.oidc))
      .catch(() => setOidc(null));
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    auth.useToken(token.trim());
    try {
      const s = await api.get<{ actor: string }>('/admin/session');
      // Drop any ?error= from a failed SSO attempt without adding a history entry.
      history.replaceState(null, '', location.pathname === '/sign-in' ? '/' : location.pathname);
      props.onSignedIn(s.actor);
    } catch (err) {
      auth.clear();
      setError(
        err instanceof ApiError && err.status === 401 ? 'That admin token is not valid.' : String(err),
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="signin">
      <form className="card" onSubmit={(e) => void submit(e)}>
        <h1>Gatehouse</h1>
        <p className="muted">Sign in to the admin console.</p>
        {callbackError && (
          <div className="form-error" role="alert">
            {REASONS[callbackError] ?? `Sign-in failed (${callbackError}).`}
          </div>
        )}
        {oidc && (
          <>
            <a className="button primary wide" href={oidc.login_url}>
              Sign in with {oidc.identity_provider}
            </a>
            <div className="or">or</div>
          </>
        )}
        <Field
          label="Admin token"
          error={error}
          hint="Printed once by gatehouse init. Kept only in this tab."
        >
          <input
            name="token"
            type="password"
            autoComplete="off"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            placeholder="gha_…"
          />
        </Field>
        <button type="submit" className="primary wide" disabled={busy || !token.trim()}>
          Sign in with token
        </button>
      </form>
    </div>
  );
}
