// A few lines of HTTP plumbing shared by the demo's services (node:http, no framework).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request handler that may throw an {@link HttpError}. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void>;

/** An error with an HTTP status and a short public message. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Reads a JSON body of at most `limit` bytes. */
export async function readJson(req: IncomingMessage, limit: number = 64 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

/** Sends a JSON response that no cache may keep. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

/**
 * Starts a loopback server on `port` (0 = ephemeral) running `handler`; errors become JSON
 * `{ error }` responses. Resolves with the server and its port.
 */
export async function serve(handler: Handler, port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    handler(req, res, url).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) console.error(err);
      if (!res.headersSent) sendJson(res, status, { error: err instanceof HttpError ? err.message : 'internal error' });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * Tells the launcher (the parent process) that this service listens on `port`, and exits
 * cleanly when the launcher goes away or asks it to stop (after `beforeExit`, when given).
 */
export function announce(name: string, server: Server, port: number, beforeExit?: () => Promise<void>): void {
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    void (beforeExit?.() ?? Promise.resolve()).finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', () => undefined); // the launcher handles Ctrl-C and stops us in order
  process.on('disconnect', stop);
  if (process.send !== undefined) process.send({ ready: name, port });
  else console.log(`${name} listening on http://127.0.0.1:${port}/`);
}
