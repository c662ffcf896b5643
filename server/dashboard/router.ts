import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Session } from './sessions.ts';

/**
 * Who may call a route: `open` needs nothing (the handler may check its own
 * credentials, as `/metrics` does); `page` and `api` need a session, and
 * without one a page redirects to the login while an API answers 401.
 */
export type RouteAuth = 'open' | 'page' | 'api';

/** What a handler gets: the parsed URL, the pattern's captures, the session and, for a POST, the checked form. */
export interface RouteCall {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  params: string[];
  session?: Session;
  form?: URLSearchParams;
}

/** One row of the dashboard's routing table. */
export interface Route {
  /** `ANY` matches every method; rows are tried in order, so it goes after the specific ones. */
  method: 'GET' | 'POST' | 'ANY';
  /** An exact path, or a pattern whose groups become {@link RouteCall.params}. */
  path: string | RegExp;
  auth: RouteAuth;
  handle(call: RouteCall): void | Promise<void>;
}

/** The first row whose method and path match, with its captures. */
export function matchRoute(routes: readonly Route[], method: string, path: string): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    if (route.method !== 'ANY' && route.method !== method) continue;
    if (typeof route.path === 'string') {
      if (route.path === path) return { route, params: [] };
      continue;
    }
    const m = route.path.exec(path);
    if (m) return { route, params: m.slice(1) };
  }
  return undefined;
}
