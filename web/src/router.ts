import { useEffect, useState } from 'react';

// A dozen routes need no router library: history.pushState and popstate.
export function navigate(to: string): void {
  if (to === location.pathname + location.search) return;
  history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useLocation(): { path: string; query: URLSearchParams } {
  const [loc, setLoc] = useState(() => ({
    path: location.pathname,
    query: new URLSearchParams(location.search),
  }));
  useEffect(() => {
    const on = () => setLoc({ path: location.pathname, query: new URLSearchParams(location.search) });
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, []);
  return loc;
}
