/**
 * What keeps the dashboard from starving the process it shares with the
 * agents' port: every connection but a live feed must finish its request in
 * time, and the dashboard never holds more than `maxConnections` sockets.
 */
export interface DashboardLimits {
  /** Whole request line and headers (ms). */
  headersTimeoutMs: number;
  /** Whole request, body included (ms); a live feed's response is not a request and is not cut. */
  requestTimeoutMs: number;
  /** The login form's body (ms), read before the password is checked. */
  loginBodyTimeoutMs: number;
  /** How often the server looks for requests past their timeout (ms). */
  checkIntervalMs: number;
  /** TLS handshake (ms), HTTPS only. */
  handshakeTimeoutMs: number;
  /** Sockets open at once; beyond it a new connection is closed at accept. */
  maxConnections: number;
  /** Live feeds open at once (each holds a socket for as long as the page is open). */
  maxLiveClients: number;
}

/** The limits a dashboard runs with unless told otherwise. */
export const DEFAULT_LIMITS: DashboardLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 15_000,
  loginBodyTimeoutMs: 5_000,
  checkIntervalMs: 1_000,
  handshakeTimeoutMs: 10_000,
  maxConnections: 256,
  maxLiveClients: 32,
};
