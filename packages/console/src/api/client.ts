import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

/** Types of the admin API, generated from packages/server/openapi-admin.yaml (`npm run api-types` in this package). */
export type Schemas = components['schemas'];
export type Session = Schemas['Session'];
export type Summary = paths['/summary']['get']['responses'][200]['content']['application/json'];
export type ReadinessReply = paths['/readiness']['get']['responses'][200]['content']['application/json'];

/** The session's CSRF token, echoed on every state-changing call (the server refuses them without it). */
let csrfToken = '';
export const setCsrfToken = (token: string) => {
  csrfToken = token;
};

/** Raised for every non-2xx answer: the server's stable code and its message, which says what to do next. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The error's `detail`, e.g. the devices holding seats with SEATS_IN_USE. */
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

const csrf: Middleware = {
  onRequest({ request }) {
    if (request.method !== 'GET' && request.method !== 'HEAD') request.headers.set('X-CSRF-Token', csrfToken);
    return request;
  },
};

export const admin = createClient<paths>({ baseUrl: '/api/admin/v1', credentials: 'same-origin' });
admin.use(csrf);
const consoleApi = createClient<paths>({ baseUrl: '/api/console/v1', credentials: 'same-origin' });
consoleApi.use(csrf);

/** Called when the server says the session ended (SESSION_ENDED): the app goes back to sign-in. */
let sessionEnded: (message: string) => void = () => {};
export const onSessionEnded = (fn: (message: string) => void) => {
  sessionEnded = fn;
};

/** Unwraps an openapi-fetch result: the data, or an ApiError. */
export function unwrap<T>(r: { data?: T; error?: unknown; response: Response }): T {
  if (r.response.ok && r.data !== undefined) return r.data;
  const e = (r.error as Schemas['Error'] | undefined)?.error;
  const error = new ApiError(
    r.response.status,
    e?.code ?? 'HTTP',
    e?.message ?? `HTTP ${r.response.status}`,
    e?.detail,
  );
  if (error.code === 'SESSION_ENDED') sessionEnded(error.message);
  throw error;
}

export const login = async (name: string, password: string) =>
  unwrap(await consoleApi.POST('/login', { body: { name, password } }));
export const currentSession = async () => unwrap(await consoleApi.GET('/session'));
export const setupState = async () => unwrap(await consoleApi.GET('/setup'));
export const bootstrap = async (bootstrapToken: string, name: string, password: string) =>
  unwrap(await consoleApi.POST('/bootstrap', { body: { bootstrapToken, name, password } }));
export const logout = async () => unwrap(await consoleApi.POST('/logout', { params: { header: {} } }));
