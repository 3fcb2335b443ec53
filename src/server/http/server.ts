// The key environment's `http.Server` with safe limits. Node's own defaults wait 60 s for
// headers and 300 s for a request, and accept any number of connections: a few slow clients
// can hold the key environment's sockets for minutes. These limits live on the server object,
// not in a request handler, so they are set here.
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import { ainteger, aobject } from '../../internal/bytes.ts';

/** Options of {@link createKeyEnvironmentServer}. */
export interface KeyEnvironmentServerOptions {
  /** The request headers must arrive within this many ms of the connection (or of the previous request). Default 10,000. */
  headersTimeoutMs?: number;
  /** A whole request (headers and body) must arrive within this many ms. Default 20,000. */
  requestTimeoutMs?: number;
  /** An idle keep-alive connection is closed after this many ms. Default 5,000. */
  keepAliveTimeoutMs?: number;
  /** At most this many connections at once; further ones are closed at once. Default 1,024. */
  maxConnections?: number;
  /** Largest request header block in bytes. Default 8,192. */
  maxHeaderBytes?: number;
  /** TLS: serve HTTPS with these `node:https` options (certificate and key). Default: plain HTTP behind your TLS terminator. */
  tls?: HttpsOptions;
}

/**
 * Creates the key environment's HTTP(S) server with safe limits: headers within 10 s, the whole
 * request within 20 s, idle keep-alive connections closed after 5 s, at most 1,024 connections,
 * 8 KiB of headers. Time-outs are checked every second (Node checks every 30 s by default).
 * The handler adds its own body limits (size, deadline). The server is returned not yet
 * listening.
 *
 * @param handler - usually {@link keyEnvironmentHandler}'s
 * @param options - see {@link KeyEnvironmentServerOptions}
 * @returns the server (call `listen`)
 * @throws RangeError for a limit out of range
 * @example
 * ```ts
 * import { createKeyEnvironmentServer, keyEnvironmentHandler } from 'tokumei/server';
 * const server = createKeyEnvironmentServer(keyEnvironmentHandler(env, { publicUrl: 'https://keys.example/session' }));
 * server.listen(8080, '127.0.0.1');
 * ```
 */
export function createKeyEnvironmentServer(handler: RequestListener, options: KeyEnvironmentServerOptions = {}): Server {
  if (typeof handler !== 'function') throw new TypeError(`"handler" expected function, got ${typeof handler}`);
  aobject('options', options);
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const requestTimeout = options.requestTimeoutMs ?? 20_000;
  const keepAliveTimeout = options.keepAliveTimeoutMs ?? 5_000;
  const maxConnections = options.maxConnections ?? 1_024;
  const maxHeaderSize = options.maxHeaderBytes ?? 8_192;
  ainteger('headersTimeoutMs', headersTimeout, 100, 600_000);
  ainteger('requestTimeoutMs', requestTimeout, headersTimeout, 3_600_000); // Node requires requestTimeout ≥ headersTimeout
  ainteger('keepAliveTimeoutMs', keepAliveTimeout, 1, 600_000);
  ainteger('maxConnections', maxConnections, 1, 1_000_000);
  ainteger('maxHeaderBytes', maxHeaderSize, 1_024, 65_536);
  const settings = {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout,
    maxHeaderSize,
    connectionsCheckingInterval: Math.min(1_000, Math.floor(headersTimeout / 2)),
  };
  const server = options.tls === undefined ? createHttpServer(settings, handler) : createHttpsServer({ ...options.tls, ...settings }, handler);
  server.maxConnections = maxConnections;
  return server;
}
