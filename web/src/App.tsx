import { type MouseEvent, useEffect, useState } from 'react';
import { api, auth, setUnauthenticatedHandler } from './api';
import { AccessPage } from './pages/access';
import { AuditPage } from './pages/Audit';
import { CertificatesPage } from './pages/certificates';
import { DevicesPage } from './pages/devices';
import { HostnamesPage } from './pages/hostnames';
import { OverviewPage } from './pages/Overview';
import { PostureLogsPage, PosturePage } from './pages/posture';
import { SignInPage } from './pages/SignIn';
import { navigate, useLocation } from './router';

const NAV: { path: string; label: string }[] = [
  { path: '/', label: 'Overview' },
  { path: '/certificates', label: 'Certificates' },
  { path: '/hostnames', label: 'Hostnames' },
  { path: '/access', label: 'Access' },
  { path: '/devices', label: 'Devices' },
  { path: '/posture', label: 'Posture' },
  { path: '/logs/posture', label: 'Logs › Posture' },
  { path: '/audit', label: 'Audit log' },
];

type Session = { state: 'checking' } | { state: 'out' } | { state: 'in'; actor: string };

export function App() {
  const { path } = useLocation();
  const [session, setSession] = useState<Session>({ state: 'checking' });

  useEffect(() => {
    setUnauthenticatedHandler(() => {
      auth.clear();
      setSession({ state: 'out' });
    });
    // A token in this tab, or an OIDC session cookie (after the IdP redirected back to /).
    api
      .get<{ actor: string }>('/admin/session')
      .then((s) => {
        if (!auth.token()) auth.useOidc();
        setSession({ state: 'in', actor: s.actor });
      })
      .catch(() => setSession({ state: 'out' }));
  }, []);

  if (session.state === 'checking') return <div className="splash">Gatehouse</div>;
  if (session.state === 'out')
    return (
      <SignInPage
        onSignedIn={(actor) => {
          setSession({ state: 'in', actor });
          if (path === '/sign-in') navigate('/');
        }}
      />
    );

  const signOut = async () => {
    if (auth.oidc()) await api.post('/admin/sign_out').catch(() => undefined);
    auth.clear();
    setSession({ state: 'out' });
  };
  const link = (to: string) => (e: MouseEvent) => {
    e.preventDefault();
    navigate(to);
  };

  return (
    <div className="shell">
      <nav className="sidebar">
        <div className="brand">Gatehouse</div>
        {NAV.map((n) => (
          <a
            key={n.path}
            href={n.path}
            onClick={link(n.path)}
            className={path === n.path ? 'active' : undefined}
            aria-current={path === n.path ? 'page' : undefined}
          >
            {n.label}
          </a>
        ))}
        <div className="whoami">
          <span title={session.actor}>{session.actor}</span>
          <button type="button" className="ghost" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </nav>
      <main>{route(path)}</main>
    </div>
  );
}

function route(path: string) {
  switch (path) {
    case '/certificates':
      return <CertificatesPage />;
    case '/hostnames':
      return <HostnamesPage />;
    case '/access':
      return <AccessPage />;
    case '/devices':
      return <DevicesPage />;
    case '/posture':
      return <PosturePage />;
    case '/logs/posture':
      return <PostureLogsPage />;
    case '/audit':
      return <AuditPage />;
    default:
      return <OverviewPage />;
  }
}
