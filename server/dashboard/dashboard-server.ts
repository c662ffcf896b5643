import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Registry } from 'prom-client';
import type { Clock } from '../../shared/clock.ts';
import { parseDuration } from '../../shared/duration.ts';
import { TwError } from '../../shared/errors.ts';
import type { Logger } from '../../shared/log.ts';
import type { FreshReportWait } from '../baselines/fresh-report.ts';
import { buildCheckerSection } from '../checkers/checker-report.ts';
import type { ServerContext } from '../context.ts';
import { GROUP_NAME } from '../fleet/fleet-membership.ts';
import { buildFleetView } from '../fleet/fleet-view.ts';
import { acceptHost, ackAlarm, lastReportAt, revokeHost, setMaintenance } from '../operator-actions.ts';
import { buildReport } from '../reports/report.ts';
import { verifyPassword } from '../trust/passwords.ts';
import { DashboardData } from './dashboard-data.ts';
import { type DashboardLimits, DEFAULT_LIMITS } from './dashboard-limits.ts';
import { cookie, parseCookies, readForm, redirect, securityHeaders, send } from './http.ts';
import { LiveFeed } from './live-feed.ts';
import { LoginGuard, type LoginGuardOptions } from './login-guard.ts';
import { alarmFilter, localPath, safeDecode, withNotice } from './route-params.ts';
import { matchRoute, type Route, type RouteCall } from './router.ts';
import { type Session, SessionStore, sameSecret } from './sessions.ts';
import { acceptRefusedPage } from './views-accept.ts';
import { alarmPage } from './views-alarm.ts';
import { alarmsPage, reportPage } from './views-alarms.ts';
import { checkersPage, hostCheckerSection } from './views-checkers.ts';
import { fleetPage } from './views-fleet.ts';
import { hostPage, hostsPage } from './views-hosts.ts';
import { loginPage, when } from './views-layout.ts';

export interface DashboardOptions {
  ctx: Pick<ServerContext, 'sql' | 'hosts' | 'alarms' | 'liveness' | 'rollup' | 'commands' | 'paths' | 'baselines' | 'checkers' | 'checkerResults'>;
  clock: Clock;
  log: Logger;
  /** Serve HTTPS with this key and certificate (required when bound beyond loopback). */
  tls?: { keyPem: string; certPem: string };
  metrics?: Registry;
  /** File holding the bearer token that may read /metrics without a session. */
  metricsTokenFile?: string;
  /** How long an accept waits for the agent's fresh report (the CLI's defaults unless told). */
  acceptWait?: FreshReportWait;
  sessionIdleMs?: number;
  pollMs?: number;
  limits?: Partial<DashboardLimits>;
  login?: Partial<LoginGuardOptions>;
}

/** Unknown users are checked against this, so timing does not tell which names exist. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** True for addresses only this machine can reach; beyond them the dashboard is HTTPS only. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const LOGIN_BODY_MAX = 4096;

const ASSET_DIR = new URL('./assets/', import.meta.url);
const ASSETS: Record<string, { type: string; body: Buffer }> = {
  '/static/dashboard.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('dashboard.js', ASSET_DIR)) },
  '/static/dashboard.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('dashboard.css', ASSET_DIR)) },
};

/**
 * The dashboard: login, hosts (live over SSE), host detail with actions,
 * alarms, report, `/metrics`. Nothing but `/healthz`, `/login` and the two
 * static files is served without a session; pages redirect to the login,
 * APIs answer 401. Every POST carries the session's CSRF token.
 */
export class Dashboard {
  readonly server: HttpServer | HttpsServer;
  readonly feed: LiveFeed;
  readonly sessions: SessionStore;
  readonly data: DashboardData;
  private readonly secure: boolean;
  private readonly cookieName: string;
  private readonly log: Logger;
  private readonly limits: DashboardLimits;
  private readonly guard: LoginGuard;

  constructor(private readonly o: DashboardOptions) {
    this.secure = !!o.tls;
    // __Host- cookies must be Secure, come from HTTPS and have Path=/: a subdomain cannot plant one.
    this.cookieName = this.secure ? '__Host-tw_session' : 'tw_session';
    this.log = o.log.child({ component: 'dashboard' });
    this.data = new DashboardData(o.ctx.sql, o.ctx.hosts, () => o.ctx.rollup.flush());
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.sessions = new SessionStore(o.clock, { idleMs: o.sessionIdleMs ?? 8 * 3_600_000 });
    this.guard = new LoginGuard(o.clock, o.login);
    this.feed = new LiveFeed(this.data, { clock: o.clock, log: this.log, pollMs: o.pollMs, maxClients: this.limits.maxLiveClients });
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      // Every handler's promise ends here: a rejection is a 500 that names no cause (the log has it), never an unhandled one.
      this.handle(req, res).catch((err) => {
        this.log.error({ err: (err as Error).message, path: req.url?.split('?')[0] }, 'dashboard request failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error; the server log says why', this.headers());
        else res.end();
      });
    };
    const l = this.limits;
    // The request timeout ends when the request has been read, so it never cuts a live feed's response.
    const limits = { requestTimeout: l.requestTimeoutMs, headersTimeout: l.headersTimeoutMs, connectionsCheckingInterval: l.checkIntervalMs, maxHeaderSize: 16 * 1024 };
    this.server = o.tls
      ? createHttpsServer({ key: o.tls.keyPem, cert: o.tls.certPem, minVersion: 'TLSv1.2', handshakeTimeout: l.handshakeTimeoutMs, ...limits }, handler)
      : createHttpServer(limits, handler);
    // The agents' port lives in the same process: the dashboard must never take the descriptors it needs.
    this.server.maxConnections = l.maxConnections;
    let warnedAt = -Infinity;
    this.server.on('drop', () => {
      const now = o.clock.now();
      if (now - warnedAt < 60_000) return;
      warnedAt = now;
      this.log.warn({ maxConnections: l.maxConnections }, 'dashboard at its connection cap: new connections are closed until slow ones time out');
    });
    this.server.on('clientError', (_e, sock) => sock.destroy());
  }

  start(): void {
    this.feed.start();
  }

  stop(): void {
    this.feed.stop();
  }

  private headers(): Record<string, string> {
    return securityHeaders(this.secure);
  }

  private page(res: ServerResponse, body: string, status = 200, extra: Record<string, string | string[]> = {}): void {
    send(res, status, 'text/html; charset=utf-8', body, { ...this.headers(), ...extra });
  }

  private session(req: IncomingMessage): Session | undefined {
    return this.sessions.get(parseCookies(req.headers.cookie).get(this.cookieName));
  }

  /**
   * The routing table: every path the dashboard answers, its method, who may
   * call it and its handler. Rows are tried in order.
   */
  private readonly routes: readonly Route[] = [
    { method: 'ANY', path: '/healthz', auth: 'open', handle: ({ res }) => send(res, 200, 'application/json', '{"ok":true}', this.headers()) },
    ...Object.entries(ASSETS).map(
      ([path, a]): Route => ({
        method: 'GET',
        path,
        auth: 'open',
        handle: ({ res }) => send(res, 200, a.type, a.body, { ...this.headers(), 'cache-control': 'max-age=300' }),
      }),
    ),
    { method: 'POST', path: '/login', auth: 'open', handle: ({ req, res }) => this.login(req, res) },
    { method: 'ANY', path: '/login', auth: 'open', handle: ({ req, res }) => this.loginForm(req, res) },
    { method: 'GET', path: '/metrics', auth: 'open', handle: ({ req, res }) => this.metrics(req, res) },
    { method: 'GET', path: '/', auth: 'page', handle: (c) => this.hostsRoute(c) },
    { method: 'GET', path: '/events', auth: 'api', handle: ({ res }) => this.feed.add(res, this.headers()) },
    {
      method: 'GET',
      path: '/api/hosts',
      auth: 'api',
      handle: async ({ res }) => send(res, 200, 'application/json', JSON.stringify(await this.data.hostRows(this.o.clock.now())), this.headers()),
    },
    { method: 'GET', path: '/alarms', auth: 'page', handle: (c) => this.alarmsRoute(c) },
    { method: 'GET', path: '/report', auth: 'page', handle: (c) => this.reportRoute(c) },
    { method: 'GET', path: '/fleet', auth: 'page', handle: (c) => this.fleetRoute(c) },
    { method: 'GET', path: '/checkers', auth: 'page', handle: (c) => this.checkersRoute(c) },
    { method: 'GET', path: /^\/hosts\/([^/]+)$/, auth: 'page', handle: (c) => this.hostRoute(c) },
    { method: 'GET', path: /^\/alarms\/(\d+)$/, auth: 'page', handle: (c) => this.alarmRoute(c) },
    { method: 'POST', path: '/logout', auth: 'api', handle: (c) => this.logoutRoute(c) },
    { method: 'POST', path: /^\/alarms\/(\d+)\/ack$/, auth: 'api', handle: (c) => this.ackRoute(c) },
    { method: 'POST', path: /^\/hosts\/([^/]+)\/(maintenance|revoke)$/, auth: 'api', handle: (c) => this.hostActionRoute(c) },
    { method: 'POST', path: /^\/hosts\/([^/]+)\/accept$/, auth: 'api', handle: (c) => this.acceptRoute(c) },
  ];

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const hit = matchRoute(this.routes, method, path);
    if (hit?.route.auth === 'open') return hit.route.handle({ req, res, url, params: hit.params });

    const session = this.session(req);
    if (!session) {
      if (hit?.route.auth === 'page') return redirect(res, '/login', this.headers());
      return send(res, 401, 'application/json', '{"error":"log in first"}', { ...this.headers(), 'www-authenticate': 'Cookie' });
    }
    let form: URLSearchParams | undefined;
    if (method === 'POST') {
      const f = await readForm(req);
      if (!f) return send(res, 413, 'text/plain', 'form too large', this.headers());
      if (!sameSecret(f.get('csrf') ?? '', session.csrf)) {
        this.log.warn({ user: session.user, path }, 'form without a valid CSRF token refused');
        return send(res, 403, 'text/plain', 'missing or wrong CSRF token; reload the page', this.headers());
      }
      form = f;
    } else if (method !== 'GET') {
      return send(res, 405, 'text/plain', 'method not allowed', this.headers());
    }
    if (!hit) return send(res, 404, 'text/plain', 'not found', this.headers());
    return hit.route.handle({ req, res, url, params: hit.params, session, form });
  }

  private async hostsRoute({ res, url, session }: RouteCall): Promise<void> {
    this.page(res, hostsPage(session!, await this.data.hostRows(this.o.clock.now()), url.searchParams.get('notice') ?? undefined));
  }

  private async alarmsRoute({ res, url, session }: RouteCall): Promise<void> {
    const f = alarmFilter(url.searchParams);
    const [rows, count] = [await this.data.alarms(f), await this.data.countAlarms(f)];
    this.page(res, alarmsPage(session!, rows, f, count, url.searchParams, `/alarms${url.search}`, url.searchParams.get('notice') ?? undefined));
  }

  private async alarmRoute({ res, url, params, session }: RouteCall): Promise<void> {
    const a = await this.data.alarm(Number(params[0]));
    if (!a) return this.page(res, hostsPage(session!, await this.data.hostRows(this.o.clock.now()), 'not-found'), 404);
    this.page(res, alarmPage(session!, a, await this.o.ctx.hosts.get(a.host), this.o.clock.now(), url.searchParams.get('notice') ?? undefined));
  }

  private async reportRoute({ res, url, session }: RouteCall): Promise<void> {
    const now = this.o.clock.now();
    let sinceText = url.searchParams.get('since') ?? '24h';
    let ms: number;
    try {
      ms = parseDuration(sinceText);
    } catch {
      sinceText = '24h';
      ms = 86_400_000;
    }
    try {
      await this.o.ctx.rollup.flush();
    } catch {
      /* the report shows what is stored */
    }
    this.page(res, reportPage(session!, await buildReport(this.o.ctx.sql, this.o.ctx.hosts, now - ms, now), sinceText));
  }

  private async fleetRoute({ res, url, session }: RouteCall): Promise<void> {
    const group = url.searchParams.get('group')?.trim() || undefined;
    const f = { group: group && GROUP_NAME.test(group) ? group : undefined, all: url.searchParams.get('all') === '1' };
    const marks = new Map((await this.data.hostRows(this.o.clock.now())).map((h) => [h.host, h]));
    this.page(res, fleetPage(session!, await buildFleetView(this.o.ctx.sql, { group: f.group, varyingOnly: !f.all, limit: 500 }), f, marks));
  }

  private async hostRoute({ res, url, params, session }: RouteCall): Promise<void> {
    const now = this.o.clock.now();
    const host = safeDecode(params[0]!);
    const rec = host === null ? undefined : await this.o.ctx.hosts.get(host);
    const rows = await this.data.hostRows(now);
    if (!rec) return this.page(res, hostsPage(session!, rows, 'not-found'), 404);
    const view = rows.find((v) => v.host === rec.host);
    const q = new URLSearchParams(url.searchParams);
    q.delete('host');
    const f = { ...alarmFilter(q), host: rec.host };
    const [alarms, count, checker] = [await this.data.alarms(f), await this.data.countAlarms(f), await this.checkerSection(rec.host)];
    this.page(res, hostPage(session!, rec, view, alarms, f, count, q, now, url.searchParams.get('notice') ?? undefined, checker));
  }

  private async checkersRoute({ res, session }: RouteCall): Promise<void> {
    const now = this.o.clock.now();
    const section = await buildCheckerSection(this.o.ctx.sql, now - 86_400_000, now);
    this.page(res, checkersPage(session!, section, await this.o.ctx.checkers.list({ limit: 200 })));
  }

  private async checkerSection(host: string) {
    const { checkers } = this.o.ctx;
    const runs = await checkers.list({ host, limit: 20 });
    const last = runs.find((r) => r.status === 'findings');
    return hostCheckerSection(await checkers.declared(host), runs, last ? await checkers.entries(last.id) : []);
  }

  private logoutRoute({ res, session }: RouteCall): void {
    this.sessions.destroy(session!.id);
    redirect(res, '/login', { ...this.headers(), 'set-cookie': cookie(this.cookieName, '', { secure: this.secure, maxAgeS: 0 }) });
  }

  private async ackRoute({ res, params, session, form }: RouteCall): Promise<void> {
    const now = this.o.clock.now();
    const id = Number(params[0]);
    const back = localPath(form!.get('back'));
    try {
      await ackAlarm(this.o.ctx, id, now);
    } catch (err) {
      if (!(err instanceof TwError)) throw err;
      return redirect(res, withNotice(back, 'not-found'), this.headers());
    }
    await this.data.audit(session!.user, 'ack', null, String(id), now);
    this.log.info({ user: session!.user, alarm: id }, 'alarm acknowledged on the dashboard');
    redirect(res, withNotice(back, 'acked'), this.headers());
  }

  private async hostActionRoute({ res, params, session, form }: RouteCall): Promise<void> {
    const now = this.o.clock.now();
    const ctx = this.o.ctx;
    const s = session!,
      f = form!;
    const host = safeDecode(params[0]!);
    if (host === null) return send(res, 404, 'text/plain', 'not found', this.headers());
    const back = `/hosts/${encodeURIComponent(host)}`;
    if (!(await ctx.hosts.get(host))) return redirect(res, withNotice('/', 'not-found'), this.headers());
    const action = params[1]!;
    if (action === 'maintenance') {
      let ms: number;
      try {
        ms = parseDuration(f.get('for') ?? '');
      } catch {
        return redirect(res, withNotice(back, 'bad-duration'), this.headers());
      }
      await setMaintenance(ctx, host, ms === 0 ? null : now + ms);
      await this.data.audit(s.user, 'maintenance', host, f.get('for'), now);
      return redirect(res, withNotice(back, ms === 0 ? 'maintenance-end' : 'maintenance'), this.headers());
    }
    if (f.get('confirm') !== 'yes') return redirect(res, withNotice(back, 'revoke-unconfirmed'), this.headers());
    await revokeHost(ctx, host, now);
    await this.data.audit(s.user, 'revoke', host, null, now);
    this.log.warn({ user: s.user, host }, 'host revoked on the dashboard');
    return redirect(res, withNotice(back, 'revoked'), this.headers());
  }

  /**
   * Accept, through the same function as the CLI: a fresh report first, so a host that is not
   * connected is refused as `accept` refuses it, on a page that offers to take the last stored
   * report knowingly (the CLI's `--stale`). Every outcome, refusals included, says what was done.
   */
  private async acceptRoute({ res, params, session, form }: RouteCall): Promise<void> {
    const ctx = this.o.ctx;
    const s = session!,
      f = form!;
    const host = safeDecode(params[0]!);
    if (host === null || !(await ctx.hosts.get(host))) return redirect(res, withNotice('/', 'not-found'), this.headers());
    const hostPath = `/hosts/${encodeURIComponent(host)}`;
    const back = localPath(f.get('back') ?? hostPath);
    const path = (f.get('path') ?? '').trim();
    const stale = f.get('stale') === 'yes';
    try {
      const r = await acceptHost(ctx, host, path ? [path] : [], { stale, clock: this.o.clock, wait: this.o.acceptWait });
      await this.data.audit(s.user, 'accept', host, [path, stale ? '--stale' : ''].filter(Boolean).join(' ') || null, this.o.clock.now());
      this.log.info({ user: s.user, host, paths: r.accepted.length, stale }, 'accepted on the dashboard');
      const stored = r.storedAt === null ? 'at an unknown time' : when(r.storedAt);
      s.flash = {
        refused: r.unmatched.length > 0,
        text:
          `Accepted ${r.accepted.length} path(s) of ${host} from its ${r.source === 'fresh' ? 'fresh' : 'last stored'} report (stored ${stored})` +
          `${r.agentExe ? ', and its agent executable' : ''}.${r.unmatched.length ? ` Not accepted: ${host} never reported ${r.unmatched.join(', ')} (TW_PATH_UNKNOWN).` : ''}`,
      };
      return redirect(res, back, this.headers());
    } catch (err) {
      if (!(err instanceof TwError)) throw err;
      await this.data.audit(s.user, 'accept-refused', host, `${err.code} ${path}`.trim(), this.o.clock.now());
      if (err.code === 'TW_HOST_OFFLINE') {
        return this.page(res, acceptRefusedPage(s, host, path, back, err, await lastReportAt(ctx, host)), 409);
      }
      s.flash = { refused: true, text: `Not accepted: ${err.message} (${err.code}). ${err.todo}` };
      return redirect(res, back, this.headers());
    }
  }

  private loginForm(req: IncomingMessage, res: ServerResponse, error?: string, status = 200): void {
    // Login CSRF: a random value in a cookie that the form must echo (double submit).
    // An existing one is kept, so a second tab or a stray request does not void the first form.
    const have = parseCookies(req.headers.cookie).get('tw_login') ?? '';
    const token = /^[\w-]{32}$/.test(have) ? have : randomBytes(24).toString('base64url');
    this.page(res, loginPage(token, error), status, { 'set-cookie': cookie('tw_login', token, { secure: this.secure, maxAgeS: 900 }) });
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const addr = req.socket.remoteAddress ?? 'unknown';
    // Cheap refusals first: no login cookie, or a body announced too big, is answered before any body is read.
    const loginCookie = parseCookies(req.headers.cookie).get('tw_login') ?? '';
    if (!/^[\w-]{32}$/.test(loginCookie)) return this.loginForm(req, res, 'The login form expired; try again.', 403);
    if (Number(req.headers['content-length'] ?? 0) > LOGIN_BODY_MAX) return send(res, 413, 'text/plain', 'form too large', this.headers());
    const form = await this.readLoginForm(req);
    if (form === 'timeout') return;
    if (!form) return send(res, 413, 'text/plain', 'form too large', this.headers());
    if (!sameSecret(form.get('csrf') ?? '', loginCookie)) return this.loginForm(req, res, 'The login form expired; try again.', 403);
    const user = form.get('user') ?? '';
    const password = form.get('password') ?? '';
    const row = await this.o.ctx.sql.get<{ password_hash: string }>('SELECT password_hash FROM users WHERE name = ?', [user]);
    const ok = (await this.guard.check(() => verifyPassword(password, row?.password_hash ?? DUMMY_HASH))) && !!row;
    if (!ok) {
      const holdMs = this.guard.fail(addr);
      this.log.warn({ remote: addr, holdMs }, 'dashboard login failed');
      if (holdMs === 0) return this.loginForm(req, res, 'Wrong user or password.', 401);
      this.o.clock.setTimeout(() => {
        if (!res.destroyed) this.loginForm(req, res, 'Wrong user or password.', 401);
      }, holdMs);
      return;
    }
    this.guard.succeed(addr);
    const s = this.sessions.create(user);
    this.log.info({ user, remote: addr }, 'dashboard login');
    return redirect(res, '/', {
      ...this.headers(),
      'set-cookie': [cookie(this.cookieName, s.id, { secure: this.secure }), cookie('tw_login', '', { secure: this.secure, maxAgeS: 0 })],
    });
  }

  /** The login body, capped and with its own short deadline; 'timeout' after the socket was closed for slowness. */
  private async readLoginForm(req: IncomingMessage): Promise<URLSearchParams | null | 'timeout'> {
    let late = false;
    const timer = this.o.clock.setTimeout(() => {
      late = true;
      req.socket.destroy();
    }, this.limits.loginBodyTimeoutMs);
    try {
      const form = await readForm(req, LOGIN_BODY_MAX);
      return late ? 'timeout' : form;
    } catch (err) {
      if (late || req.socket.destroyed) return 'timeout';
      throw err;
    } finally {
      this.o.clock.clearTimeout(timer);
    }
  }

  /** `/metrics`: a dashboard session, or `Authorization: Bearer <token>` matching the token file. */
  private async metrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.o.metrics) return send(res, 404, 'text/plain', 'not found', this.headers());
    if (!this.session(req) && !this.bearerOk(req.headers.authorization)) {
      return send(res, 401, 'text/plain', 'metrics need a dashboard session or the bearer token from metrics.token', { ...this.headers(), 'www-authenticate': 'Bearer' });
    }
    send(res, 200, this.o.metrics.contentType, await this.o.metrics.metrics(), this.headers());
  }

  private bearerOk(header: string | undefined): boolean {
    if (!this.o.metricsTokenFile || !header?.startsWith('Bearer ')) return false;
    let token: string;
    try {
      token = readFileSync(this.o.metricsTokenFile, 'utf8').trim();
    } catch {
      return false;
    }
    return token.length >= 16 && sameSecret(header.slice(7).trim(), token);
  }
}
