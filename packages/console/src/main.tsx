import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import {
  ApiError,
  bootstrap,
  currentSession,
  login,
  logout,
  onSessionEnded,
  type Session,
  setCsrfToken,
  setupState,
} from './api/client';
import { currentLang, type Key, setLang, t } from './i18n';
import {
  Audit,
  Devices,
  LicensePage,
  Licenses,
  Messages,
  Operators,
  Orders,
  Overview,
  Readiness,
  Tokens,
  Webhooks,
} from './pages';
import { BASE, Link, navigate, onNavigate, setRole } from './ui';

const NAV: { path: string; key: Key; adminOnly?: boolean }[] = [
  { path: '', key: 'overview' },
  { path: '/licenses', key: 'licenses' },
  { path: '/devices', key: 'devices' },
  { path: '/orders', key: 'orders' },
  { path: '/messages', key: 'messages' },
  { path: '/audit', key: 'audit' },
  { path: '/webhooks', key: 'webhooks' },
  { path: '/readiness', key: 'readiness' },
  { path: '/tokens', key: 'tokens', adminOnly: true },
  { path: '/operators', key: 'operators', adminOnly: true },
];

function Page() {
  const path = location.pathname.slice(BASE.length).replace(/\/$/, '');
  const license = /^\/licenses\/([^/]+)$/.exec(path);
  if (license) return <LicensePage id={decodeURIComponent(license[1]!)} />;
  switch (path) {
    case '/licenses':
      return <Licenses />;
    case '/devices':
      return <Devices />;
    case '/orders':
      return <Orders />;
    case '/messages':
      return <Messages />;
    case '/audit':
      return <Audit />;
    case '/webhooks':
      return <Webhooks />;
    case '/readiness':
      return <Readiness />;
    case '/tokens':
      return <Tokens />;
    case '/operators':
      return <Operators />;
    default:
      return <Overview />;
  }
}

/** A fresh install (no operator yet): how to make the first one, with the CLI or the bootstrap token. */
function FirstOperator(props: { bootstrapTokenSet: boolean; created: () => void }) {
  const [token, setToken] = useState('');
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  return (
    <section class="first-operator" data-testid="first-operator">
      <p>{t('firstOperator')}</p>
      <pre>
        <code>{t('firstOperatorCli')}</code>
      </pre>
      {props.bootstrapTokenSet ? (
        <form
          onSubmit={async (e) => {
            e.preventDefault();
            setError(undefined);
            try {
              await bootstrap(token, name, password);
              props.created();
            } catch (err) {
              setError(err instanceof ApiError ? err.message : String(err));
            }
          }}
        >
          <p>{t('firstOperatorCliHint')}</p>
          <label>
            {t('bootstrapToken')}
            <input
              name="bootstrapToken"
              type="password"
              autocomplete="off"
              value={token}
              onInput={(e) => setToken((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            {t('name')}
            <input
              name="firstName"
              autocomplete="username"
              value={name}
              onInput={(e) => setName((e.target as HTMLInputElement).value)}
            />
          </label>
          <label>
            {t('newOperatorPassword')}
            <input
              name="firstPassword"
              type="password"
              autocomplete="new-password"
              value={password}
              onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
            />
          </label>
          <button type="submit">{t('createFirstOperator')}</button>
          {error ? (
            <p class="error" role="alert">
              {error}
            </p>
          ) : null}
        </form>
      ) : null}
    </section>
  );
}

function Login(props: { signedIn: (s: Session) => void; notice?: string }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [notice, setNotice] = useState(props.notice);
  const [setup, setSetup] = useState<{ firstOperatorNeeded: boolean; bootstrapTokenSet: boolean } | undefined>();
  useEffect(() => {
    setupState().then(setSetup, () => setSetup(undefined));
  }, []);
  return (
    <main class="login">
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          try {
            props.signedIn(await login(name, password));
          } catch (err) {
            setError(err instanceof ApiError ? err.message : String(err));
          }
        }}
      >
        <h1>{t('appName')}</h1>
        {notice ? (
          <p class="notice" data-testid="login-notice">
            {notice}
          </p>
        ) : null}
        <label>
          {t('name')}
          <input
            name="name"
            autocomplete="username"
            value={name}
            onInput={(e) => setName((e.target as HTMLInputElement).value)}
          />
        </label>
        <label>
          {t('password')}
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            value={password}
            onInput={(e) => setPassword((e.target as HTMLInputElement).value)}
          />
        </label>
        <button type="submit">{t('signIn')}</button>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
      {setup?.firstOperatorNeeded ? (
        <FirstOperator
          bootstrapTokenSet={setup.bootstrapTokenSet}
          created={() => {
            setSetup({ firstOperatorNeeded: false, bootstrapTokenSet: false });
            setNotice(t('firstOperatorCreated'));
          }}
        />
      ) : null}
    </main>
  );
}

function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  /** Why the sign-in page shows (a session that ended); the URL stays, so signing in returns to it. */
  const [notice, setNotice] = useState<string | undefined>();
  const [, setRender] = useState(0);
  const signedIn = (s: Session) => {
    setCsrfToken(s.csrfToken);
    setRole(s.role);
    setNotice(undefined);
    setSession(s);
  };
  useEffect(() => {
    onNavigate(() => setRender((n) => n + 1));
    onSessionEnded(() => {
      setNotice(t('sessionEnded'));
      setSession(null);
    });
    currentSession().then(signedIn, (e: unknown) => {
      if (e instanceof ApiError && e.code === 'SESSION_ENDED') setNotice(t('sessionEnded'));
      setSession(null);
    });
  }, []);
  if (session === undefined) return null;
  if (session === null) return <Login key={notice ?? ''} notice={notice} signedIn={signedIn} />;
  const current = location.pathname.slice(BASE.length).replace(/\/$/, '');
  return (
    <div class="shell">
      <header>
        <strong>{t('appName')}</strong>
        <nav>
          {NAV.filter((n) => !n.adminOnly || session.role === 'admin').map((n) => (
            <Link
              key={n.path}
              href={`${BASE}${n.path || '/'}`}
              class={(n.path === '' ? current === '' : current.startsWith(n.path)) ? 'current' : ''}
            >
              {t(n.key)}
            </Link>
          ))}
        </nav>
        <span class="who" data-testid="who">
          {t('signedInAs')} {session.operator} ({session.role})
        </span>
        <button
          type="button"
          class="lang"
          onClick={() => {
            setLang(currentLang() === 'en' ? 'zh' : 'en');
            setRender((n) => n + 1);
          }}
        >
          {currentLang() === 'en' ? '中文' : 'English'}
        </button>
        <button
          type="button"
          onClick={async () => {
            await logout().catch(() => {});
            setSession(null);
            navigate(`${BASE}/`);
          }}
        >
          {t('signOut')}
        </button>
      </header>
      {session.role === 'viewer' ? <p class="notice">{t('readOnly')}</p> : null}
      <main key={`${currentLang()}${location.pathname}${location.search}`}>
        <Page />
      </main>
    </div>
  );
}

setLang(currentLang());
render(<App />, document.getElementById('app')!);
