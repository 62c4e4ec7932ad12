import type { ComponentChildren, ComponentType } from 'preact';
import { useEffect, useErrorBoundary, useState } from 'preact/hooks';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso';
import { whenSessionLost } from './api';
import { AlertsPage } from './pages/alerts';
import { ApprovalsPage } from './pages/approvals';
import { FeedPage } from './pages/feed';
import { OverviewPage } from './pages/overview';
import { PeersPage } from './pages/peers';
import { PolicyPage } from './pages/policy';
import { ProposalsPage } from './pages/proposals';
import { SessionsPage } from './pages/sessions';
import { ShadowPage } from './pages/shadow';
import { SuggestionsPage } from './pages/suggestions';
import { TracePage } from './pages/trace';
import { currentSession, Login, logout, type Session, SessionContext } from './session';
import { ErrorNote, Loading, Page, Time } from './ui';
import { ApiError } from './api';

/** The pages, in the navigation's order, each shown only to roles with its permission. */
export const PAGES: Array<{
  path: string;
  label: string;
  permission: string;
  component: ComponentType;
}> = [
  { path: '/dash/', label: 'Overview', permission: 'analytics.read', component: OverviewPage },
  { path: '/dash/feed', label: 'Live audit', permission: 'audit.read', component: FeedPage },
  { path: '/dash/sessions', label: 'Sessions', permission: 'audit.read', component: SessionsPage },
  { path: '/dash/policy', label: 'Policy', permission: 'policy.read', component: PolicyPage },
  {
    path: '/dash/approvals',
    label: 'Approvals',
    permission: 'approvals.read',
    component: ApprovalsPage,
  },
  {
    path: '/dash/proposals',
    label: 'Proposals',
    permission: 'policy.read',
    component: ProposalsPage,
  },
  {
    path: '/dash/suggestions',
    label: 'Suggestions',
    permission: 'analytics.read',
    component: SuggestionsPage,
  },
  { path: '/dash/alerts', label: 'Alerts', permission: 'audit.read', component: AlertsPage },
  { path: '/dash/shadow', label: 'Shadow', permission: 'analytics.read', component: ShadowPage },
  { path: '/dash/peers', label: 'Peers', permission: 'federation.read', component: PeersPage },
];

function Nav({ session }: { session: Session }) {
  const { path } = useLocation();
  const visible = PAGES.filter((p) => session.permissions.includes(p.permission));
  return (
    <nav aria-label="Dashboard">
      <ul>
        {visible.map((p) => {
          const current =
            p.path === '/dash/' ? path === '/dash/' || path === '/dash' : path.startsWith(p.path);
          return (
            <li key={p.path}>
              <a href={p.path} aria-current={current ? 'page' : undefined}>
                {p.label}
              </a>
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

/** A page that fails to render shows why, with a way back, instead of going blank. */
function PageBoundary({ children }: { children: ComponentChildren }) {
  const [error, reset] = useErrorBoundary();
  if (error)
    return (
      <Page title="This page failed">
        <ErrorNote
          error={
            new ApiError(0, 'DASHBOARD.RENDER_FAILED', String((error as Error).message ?? error))
          }
          title="The dashboard could not show this page"
        />
        <button type="button" onClick={reset}>
          Try again
        </button>
      </Page>
    );
  return <>{children}</>;
}

function Forbidden() {
  return (
    <Page title="Not for your role">
      <p>
        Your roles do not include this page. Ask an admin for a role that does (see docs/admins.md).
      </p>
    </Page>
  );
}

function NotFound() {
  return (
    <Page title="No such page">
      <p>
        There is no dashboard page here. <a href="/dash/">Go to the overview</a>.
      </p>
    </Page>
  );
}

/** The first page a role may see (a viewer has no overview). */
function Home({ session }: { session: Session }) {
  const { route } = useLocation();
  const first = PAGES.find((p) => session.permissions.includes(p.permission));
  const overview = PAGES[0]!;
  useEffect(() => {
    if (first && first !== overview) route(first.path, true);
  }, [first, overview, route]);
  if (first === overview) return <OverviewPage />;
  return first ? <Loading what="your first page" /> : <Forbidden />;
}

function Shell({ session, onLogout }: { session: Session; onLogout(): void }) {
  const guard = (permission: string, component: ComponentType) =>
    session.permissions.includes(permission) ? component : Forbidden;
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <div class="layout">
        <header class="top">
          <a class="brand" href="/dash/">
            SecureGateway
          </a>
          <div class="who">
            <span>
              {session.name} <span class="muted">({session.roles.join(', ')})</span>
            </span>
            <span class="muted small">
              session ends <Time iso={session.expires_at} />
            </span>
            <button type="button" onClick={onLogout}>
              Log out
            </button>
          </div>
        </header>
        <Nav session={session} />
        <main id="main">
          <Routes session={session} guard={guard} />
        </main>
      </div>
    </SessionContext.Provider>
  );
}

function Routes({
  session,
  guard,
}: {
  session: Session;
  guard(permission: string, component: ComponentType): ComponentType;
}) {
  const { path } = useLocation();
  return (
    <PageBoundary key={path}>
      <Router>
        <Route path="/dash/" component={() => <Home session={session} />} />
        <Route path="/dash" component={() => <Home session={session} />} />
        {PAGES.slice(1).map((p) => (
          <Route key={p.path} path={p.path} component={guard(p.permission, p.component)} />
        ))}
        <Route path="/dash/trace/:id" component={guard('audit.read', TracePage)} />
        <Route path="/dash/sessions/:project/:sid" component={guard('audit.read', SessionsPage)} />
        <Route default component={NotFound} />
      </Router>
    </PageBoundary>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | undefined>();

  useEffect(() => {
    whenSessionLost(() => {
      setSession(null);
      setNotice('Your session ended (it expired, or you logged out elsewhere). Log in again.');
    });
    currentSession().then(setSession, (err: ApiError) => setError(err));
  }, []);

  if (error)
    return (
      <main id="main" class="login">
        <ErrorNote error={error} title="The dashboard cannot reach the gateway" />
      </main>
    );
  if (session === undefined)
    return (
      <main id="main" class="login">
        <Loading what="your session" />
      </main>
    );
  if (session === null)
    return (
      <Login
        notice={notice}
        onLogin={(s) => {
          setNotice(undefined);
          setSession(s);
        }}
      />
    );
  return (
    <LocationProvider scope="/dash">
      <Shell
        session={session}
        onLogout={() => {
          void logout().finally(() => {
            setNotice('You are logged out.');
            setSession(null);
          });
        }}
      />
    </LocationProvider>
  );
}
