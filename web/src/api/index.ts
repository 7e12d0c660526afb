// The console talks to the public admin API only (/api/v1), as any other client would.

export interface ApiErrorItem {
  code: string;
  message: string;
}

export interface ResultInfo {
  page: number;
  per_page: number;
  count: number;
  total_count: number;
}

interface Envelope<T> {
  success: boolean;
  errors: ApiErrorItem[];
  result: T;
  result_info?: ResultInfo;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly errors: ApiErrorItem[],
  ) {
    super(errors.map((e) => e.message).join('; ') || `HTTP ${status}`);
  }
  get code(): string {
    return this.errors[0]?.code ?? 'error';
  }
}

// The admin token lives in sessionStorage only: gone when the tab closes, never in a URL or cookie.
const TOKEN_KEY = 'gatehouse.adminToken';
const OIDC_KEY = 'gatehouse.oidcSession';

export const auth = {
  token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  oidc(): boolean {
    return sessionStorage.getItem(OIDC_KEY) === '1';
  },
  useToken(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.removeItem(OIDC_KEY);
  },
  useOidc(): void {
    sessionStorage.setItem(OIDC_KEY, '1');
    sessionStorage.removeItem(TOKEN_KEY);
  },
  clear(): void {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(OIDC_KEY);
  },
};

let onUnauthenticated: () => void = () => undefined;
export function setUnauthenticatedHandler(fn: () => void): void {
  onUnauthenticated = fn;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<Envelope<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const token = auth.token();
  if (token) headers.authorization = `Bearer ${token}`;
  // The OIDC session is an HttpOnly cookie; the API wants this header with it (CSRF).
  else headers['gatehouse-csrf'] = '1';
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, [
      { code: 'network_error', message: `cannot reach the control plane: ${String(err)}` },
    ]);
  }
  let json: Envelope<T> | undefined;
  try {
    json = (await res.json()) as Envelope<T>;
  } catch {
    json = undefined;
  }
  if (!res.ok || !json?.success) {
    if (res.status === 401 && !path.startsWith('/admin/sign_in')) onUnauthenticated();
    throw new ApiError(
      res.status,
      json?.errors?.length ? json.errors : [{ code: 'http_error', message: `HTTP ${res.status}` }],
    );
  }
  return json;
}

export const api = {
  get: async <T>(path: string) => (await call<T>('GET', path)).result,
  list: async <T>(path: string) => {
    const r = await call<T[]>('GET', path);
    return { items: r.result, info: r.result_info };
  },
  post: async <T>(path: string, body?: unknown) => (await call<T>('POST', path, body ?? undefined)).result,
  put: async <T>(path: string, body: unknown) => (await call<T>('PUT', path, body)).result,
  patch: async <T>(path: string, body: unknown) => (await call<T>('PATCH', path, body)).result,
  del: async <T>(path: string) => (await call<T>('DELETE', path)).result,
};

/**
 * Which form field an API error is about: `invalid_request` messages start with the failing path
 * ("body/client_auth/mode must be …"); other codes are mapped per form (`invalid_pem` → the PEM box).
 */
export function fieldErrors(err: unknown, byCode: Record<string, string> = {}): Record<string, string> {
  if (!(err instanceof ApiError)) return { _form: String(err) };
  const out: Record<string, string> = {};
  for (const e of err.errors) {
    // Schema errors: "body/client_auth/mode must be …"; domain checks: "policies[0].require[1]: …".
    const dotted = /^([a-z_]+(?:\[\d+\]|\.[a-z_]+)+)[: ]/.exec(e.message)?.[1];
    const m =
      /^(?:body|querystring)\/([A-Za-z0-9_/]+)/.exec(e.message) ??
      (dotted ? [dotted, dotted.replace(/\[(\d+)\]/g, '/$1').replaceAll('.', '/')] : null);
    const extra = /\(([a-z_]+)\)$/.exec(e.message);
    // The path in the message is the most precise; then the form's code map.
    const field =
      (m ? (m[1] as string) : undefined) ??
      byCode[e.code] ??
      (e.code === 'invalid_request' && extra ? (extra[1] as string) : undefined) ??
      '_form';
    out[field] = out[field] ? `${out[field]}; ${e.message}` : e.message;
  }
  return out;
}

/** The error for `field` or any nested path under it. */
export function errorFor(errors: Record<string, string>, field: string): string | undefined {
  if (errors[field]) return errors[field];
  const nested = Object.keys(errors).find((k) => k.startsWith(`${field}/`));
  return nested ? errors[nested] : undefined;
}

/**
 * Creates (POST to the collection) or replaces (PUT to collection/id) a resource. Returns the
 * errors by field on failure, undefined on success; the form keeps its state either way.
 */
export async function saveResource(
  collection: string,
  id: string | undefined,
  body: unknown,
  byCode: Record<string, string> = {},
): Promise<Record<string, string> | undefined> {
  try {
    if (id) await api.put(`${collection}/${id}`, body);
    else await api.post(collection, body);
    return undefined;
  } catch (err) {
    return fieldErrors(err, byCode);
  }
}

/** Asks `question`, then deletes `path`: whether it was deleted, and the errors when it failed. */
export async function confirmDelete(
  question: string,
  path: string,
): Promise<{ deleted: boolean; errors?: Record<string, string> }> {
  if (!confirm(question)) return { deleted: false };
  try {
    await api.del(path);
    return { deleted: true };
  } catch (err) {
    return { deleted: false, errors: fieldErrors(err) };
  }
}
