// Reading a JSON request body at the key environment's HTTP boundary: a size limit after which
// reading stops and the connection is closed, a deadline for the whole body, and a client that
// goes away mid-body told apart from an internal error.
import type { IncomingMessage } from 'node:http';

/** An answer the boundary gives without involving the key environment (internal). */
export class HttpError extends Error {
  /**
   * @param status - the HTTP status
   * @param code - the `error` of the JSON body
   * @param close - close the connection after answering (the rest of the body is not read)
   */
  constructor(
    readonly status: number,
    readonly code: string,
    readonly close = false,
  ) {
    super(code);
  }
}

/** The client went away before the request was complete: nobody to answer (internal). */
export class ClientGone extends Error {
  constructor() {
    super('client disconnected');
  }
}

const JSON_MEDIA_TYPE = /^application\/json[ \t]*(;.*)?$/i;

/** Whether the `Content-Type` is `application/json` (any parameters, e.g. `charset=utf-8`). */
export function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && JSON_MEDIA_TYPE.test(value.trim());
}

/**
 * Reads and parses the body. Past `limit` bytes, or past `timeoutMs`, it stops reading and
 * rejects with an {@link HttpError} that closes the connection (413, 408); a body that is not
 * JSON is a 400; a client that disconnects is {@link ClientGone}.
 */
export function readJson(req: IncomingMessage, limit: number, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined, value?: unknown): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted);
      // Stop reading: what is left of an oversized or late body stays unread, and the answer
      // closes the connection.
      if (err !== undefined) {
        req.on('error', () => undefined);
        req.pause();
        reject(err);
      } else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) finish(new HttpError(413, 'ERR_FORMAT', true));
      else chunks.push(chunk);
    };
    const onEnd = (): void => {
      let value: unknown;
      try {
        value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        finish(new HttpError(400, 'ERR_FORMAT'));
        return;
      }
      finish(undefined, value);
    };
    const gone = (): void => finish(new ClientGone());
    const onError = (): void => gone();
    const onAborted = (): void => gone();
    const timer = setTimeout(() => finish(new HttpError(408, 'ERR_TIMEOUT', true)), timeoutMs);
    timer.unref?.();
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      finish(new HttpError(413, 'ERR_FORMAT', true)); // said so up front: do not read a byte
      return;
    }
    req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted);
  });
}
