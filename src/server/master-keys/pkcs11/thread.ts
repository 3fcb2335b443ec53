// A PKCS#11 thread seen from the main thread: requests with ids, replies, time-outs, and what
// to do with a reply that comes after its caller gave up. Internal.
import { Worker } from 'node:worker_threads';
import type { ModuleState } from './modules.ts';
import { pkcs11Thread, type FailureKind, type ThreadReply, type ThreadRequest } from './worker.ts';

/** A failed request: the PKCS#11 thread's classification, or `timeout`. */
export class ThreadFailure extends Error {
  constructor(
    readonly kind: FailureKind | 'timeout',
    message: string,
  ) {
    super(message);
    this.name = 'ThreadFailure';
  }
}

/** A request without its id (the thread assigns one). */
export type Request = ThreadRequest extends infer R ? (R extends ThreadRequest ? Omit<R, 'id'> : never) : never;
/** A successful reply. */
export type Success = Extract<ThreadReply, { ok: true }>;

interface Pending {
  resolve: (reply: Success) => void;
  reject: (err: ThreadFailure) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

// The thread's source: the self-contained body of worker.ts, called with its port, the path of
// pkcs11js (resolved from tokumei's own location) and `require`.
const source = (): string =>
  `'use strict';\nconst { parentPort, workerData } = require('node:worker_threads');\n(${pkcs11Thread.toString()})(parentPort, workerData.pkcs11js, require);\n`;

/** One PKCS#11 thread (a worker) and the request it is running, if any. */
export class Pkcs11Thread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #dead: string | undefined;
  #running = false;
  #idle: (() => void)[] = [];

  readonly #module: ModuleState;

  /** Starts a thread for the module whose process-wide state is `module` (it counts busy threads). */
  constructor(pkcs11jsPath: string, module: ModuleState) {
    this.#module = module;
    this.#worker = new Worker(source(), { eval: true, workerData: { pkcs11js: pkcs11jsPath } });
    this.#worker.unref(); // an idle master key does not keep the process alive
    this.#worker.on('message', (reply: ThreadReply) => this.#settle(reply));
    this.#worker.on('error', (err) => this.#die(`the PKCS#11 thread stopped: ${err.message}`));
    this.#worker.on('exit', () => this.#die('the PKCS#11 thread exited'));
  }

  /** Whether a request is running (or timed out and still running in the module). */
  get busy(): boolean {
    return this.#pending.size > 0;
  }

  /** Whether the thread has stopped (it cannot be used again). */
  get dead(): boolean {
    return this.#dead !== undefined;
  }

  /** Resolves once no request is running. */
  idle(): Promise<void> {
    return this.busy ? new Promise((resolve) => this.#idle.push(resolve)) : Promise.resolve();
  }

  /**
   * Sends a request. `transfer` moves buffers to the thread (no copy). After `timeoutMs` the
   * promise rejects with `timeout`, but the request keeps running in the module: `busy` stays
   * true until it answers, and a late answer's data is wiped, never delivered.
   */
  request(req: Request, timeoutMs: number, transfer: ArrayBuffer[] = []): Promise<Success> {
    if (this.#dead !== undefined) return Promise.reject(new ThreadFailure('unavailable', this.#dead));
    const id = this.#next++;
    return new Promise<Success>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined };
      pending.timer = setTimeout(() => {
        pending.timer = undefined;
        reject(new ThreadFailure('timeout', `the PKCS#11 module did not answer ${req.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      if (!this.#running) {
        this.#running = true;
        this.#module.running++;
        this.#worker.ref();
      }
      this.#pending.set(id, pending);
      this.#worker.postMessage({ ...req, id }, transfer);
    });
  }

  #settle(reply: ThreadReply): void {
    const pending = this.#pending.get(reply.id);
    this.#pending.delete(reply.id);
    if (pending?.timer === undefined) {
      // Nobody waits for it any more (timed out, or unknown): a decrypted key is wiped here.
      if (reply.ok && reply.data !== undefined) new Uint8Array(reply.data).fill(0);
    } else {
      clearTimeout(pending.timer);
      if (reply.ok) pending.resolve(reply);
      else pending.reject(new ThreadFailure(reply.kind, reply.message));
    }
    this.#drained();
  }

  #die(reason: string): void {
    this.#dead ??= reason;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      if (pending.timer !== undefined) {
        clearTimeout(pending.timer);
        pending.reject(new ThreadFailure('unavailable', reason));
      }
    }
    this.#drained();
  }

  #drained(): void {
    if (this.busy || !this.#running) return;
    this.#running = false;
    this.#module.running--;
    this.#worker.unref();
    for (const resolve of this.#idle.splice(0)) resolve();
  }

  /** Stops the thread (after its module calls are done with). */
  async terminate(): Promise<void> {
    this.#dead ??= 'the PKCS#11 master key was closed';
    await this.#worker.terminate();
  }
}
