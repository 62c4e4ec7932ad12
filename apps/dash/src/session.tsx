import { createContext } from 'preact';
import { useContext, useState } from 'preact/hooks';
import { api, ApiError, setCsrfToken } from './api';
import { ErrorNote, TextField } from './ui';

/** Who is logged in (GET /dash/api/session), and what the roles allow. */
export interface Session {
  name: string;
  roles: string[];
  via: 'key' | 'oidc' | 'bootstrap';
  permissions: string[];
  projects: string[];
  csrf_token: string;
  expires_at: string;
}

export const SESSION_PATH = '/dash/api/session';

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a logged-in page');
  return s;
}

/** Whether the logged-in admin may do `permission` (the API checks again). */
export function useCan(): (permission: string) => boolean {
  const s = useSession();
  return (permission) => s.permissions.includes(permission);
}

export async function currentSession(): Promise<Session | null> {
  try {
    const s = await api<Session>(SESSION_PATH);
    setCsrfToken(s.csrf_token);
    return s;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

export async function logout(): Promise<void> {
  try {
    await api(SESSION_PATH, { method: 'DELETE' });
  } finally {
    setCsrfToken(null);
  }
}

/** Log in with an admin key (X-Admin-Key) or an OIDC access token (Authorization: Bearer). */
export function Login({ onLogin, notice }: { onLogin(s: Session): void; notice?: string }) {
  const [mode, setMode] = useState<'key' | 'token'>('key');
  const [secret, setSecret] = useState('');
  const [error, setError] = useState<ApiError | null>(null);
  const [pending, setPending] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setPending(true);
    setError(null);
    try {
      const s = await api<Session>(SESSION_PATH, {
        method: 'POST',
        headers: mode === 'key' ? { 'x-admin-key': secret } : { authorization: `Bearer ${secret}` },
      });
      setCsrfToken(s.csrf_token);
      setSecret('');
      onLogin(s);
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, 'CLIENT', String(err)));
    } finally {
      setPending(false);
    }
  }

  return (
    <main class="login" id="main">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">SecureGateway</h1>
        <p class="muted">Log in to the admin dashboard.</p>
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        <fieldset class="segmented">
          <legend>Log in with</legend>
          <label>
            <input
              type="radio"
              name="mode"
              checked={mode === 'key'}
              onChange={() => setMode('key')}
            />{' '}
            a key
          </label>
          <label>
            <input
              type="radio"
              name="mode"
              checked={mode === 'token'}
              onChange={() => setMode('token')}
            />{' '}
            an OIDC token
          </label>
        </fieldset>
        <TextField
          label={mode === 'key' ? 'Admin key' : 'Access token'}
          type="password"
          value={secret}
          onInput={setSecret}
          autoComplete="off"
          required
        />
        {error && <ErrorNote error={error} title="Login refused" />}
        <button type="submit" class="primary" disabled={pending || !secret}>
          {pending ? 'Logging in…' : 'Log in'}
        </button>
        <p class="muted small">
          The key is sent once; the session is an HttpOnly cookie that expires.
        </p>
      </form>
    </main>
  );
}
