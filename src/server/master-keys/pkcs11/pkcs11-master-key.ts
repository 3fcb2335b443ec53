// The master key in an HSM over PKCS#11: AES-256-GCM inside the token with the wrap context as
// additional authenticated data, a pool of sessions (one thread each), one login, recovery when
// the token or its sessions go away, and a clean close. Node only; needs the optional peer
// dependency pkcs11js, loaded only when a PKCS#11 master key is opened.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { decryptionFailed, TokumeiError } from '../../../errors.ts';
import { abytes, equalBytes, randomBytes, toBase64url, utf8, wipe } from '../../../internal/bytes.ts';
import { KeyEnvironmentOutage } from '../../outage.ts';
import { moduleState, releaseModule } from './modules.ts';
import { resolveOptions, type Pkcs11MasterKey, type Pkcs11MasterKeyOptions, type Pkcs11Status, type ResolvedOptions } from './options.ts';
import { Pkcs11Thread, ThreadFailure, type Request, type Success } from './thread.ts';
import type { KeyFacts } from './worker.ts';

// The wrapped form is the local master key's: 0x01 ‖ iv(12) ‖ ciphertext ‖ tag(16), AAD = context.
const WRAP_VERSION = 1;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const MAX_PLAINTEXT = 65_536;
// A known value wrapped at open: it checks that the token enforces the AAD, tells a bad
// ciphertext from a failing token when the token's error code does not, and proves after a
// reconnect that the key behind the label is still the same key.
const CANARY_CONTEXT = /* @__PURE__ */ utf8('tokumei/v1/pkcs11-canary');
const CANARY_OTHER_CONTEXT = /* @__PURE__ */ utf8('tokumei/v1/pkcs11-canary/other');

/** Resolves `promise`, or rejects with a `timeout` failure at `deadline`. */
async function beforeDeadline<T>(promise: Promise<T>, deadline: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ThreadFailure('timeout', what)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

class Pkcs11Key implements Pkcs11MasterKey {
  id = '';
  readonly #o: ResolvedOptions;
  readonly #threads: Pkcs11Thread[];
  readonly #pkcs11jsPath: string;
  #idle: Pkcs11Thread[] = [];
  #waiters: { resolve: (t: Pkcs11Thread) => void; reject: (err: unknown) => void; timer: ReturnType<typeof setTimeout> }[] = [];
  #status: Pkcs11Status = 'down';
  #reason = 'not connected yet';
  #generation = -1;
  #ckaId: Uint8Array = new Uint8Array(0);
  #canary: Uint8Array | undefined;
  #lastAttempt = 0;
  #reconnecting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Operations under way (started before a close, which waits for them). */
  #active = 0;
  #whenInactive: (() => void)[] = [];

  constructor(o: ResolvedOptions, pkcs11jsPath: string) {
    this.#o = o;
    this.#pkcs11jsPath = pkcs11jsPath;
    const module = moduleState(o.library);
    module.users++;
    this.#generation = module.generation;
    this.#threads = Array.from({ length: o.sessions }, () => new Pkcs11Thread(pkcs11jsPath, module));
  }

  get status(): Pkcs11Status {
    return this.#closing === undefined ? this.#status : 'closed';
  }

  /**
   * How long a connect (at open, or a reconnect) may take: a login can be slow (a PIN-derived
   * key, a network round trip per call), so at least 15 s, whatever `timeoutMs` says for a
   * single operation; an operation waiting for a reconnect still gives up at its own deadline.
   */
  get #connectTimeoutMs(): number {
    return Math.max(this.#o.timeoutMs, 15_000);
  }

  /** Connects (creating the key when asked), settles the id, and self-tests the token. */
  async open(): Promise<void> {
    try {
      await moduleState(this.#o.library).finalizing; // a last user's close still finalizing the module
      const deadline = Date.now() + this.#connectTimeoutMs;
      const facts = await this.#connect(this.#o.create, deadline);
      if (this.#o.id === undefined && facts.ckaId.length === 0) throw new ThreadFailure('config', `the key labelled "${this.#o.keyLabel}" has no CKA_ID: give it one, or pass "id"`);
      this.id = this.#o.id ?? `p11.${toBase64url(facts.ckaId)}`;
      this.#ckaId = facts.ckaId;
      this.#up();
      this.#canary = await this.wrap(new Uint8Array(32), CANARY_CONTEXT);
      if (!(await this.#canaryHolds())) throw new ThreadFailure('config', 'a value wrapped by the token does not unwrap');
      // A token that ignored the AAD would lose the binding of each member key to its entry.
      const other = await this.#decrypt(this.#canary, CANARY_OTHER_CONTEXT).then(wipe, (err: unknown) => err);
      if (!(other instanceof ThreadFailure && (other.kind === 'decrypt' || other.kind === 'ambiguous'))) {
        throw other instanceof ThreadFailure ? other : new ThreadFailure('config', 'the token does not authenticate the additional data of CKM_AES_GCM');
      }
    } catch (err) {
      this.#status = 'closed';
      await this.#shutdown();
      throw this.#unavailable(err);
    }
  }

  async wrap(plaintext: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    abytes('plaintext', plaintext);
    abytes('context', context);
    if (plaintext.length === 0 || plaintext.length > MAX_PLAINTEXT) throw new RangeError(`"plaintext" expected 1 to ${MAX_PLAINTEXT} bytes, got length=${plaintext.length}`);
    const iv = randomBytes(IV_LENGTH); // made here for every wrap, never by a caller
    const reply = await this.#run(() => {
      // A copy the PKCS#11 thread receives (moved, not copied again) and wipes after use.
      const data = new ArrayBuffer(plaintext.length);
      new Uint8Array(data).set(plaintext);
      return { req: { op: 'encrypt', iv, aad: context, data }, transfer: [data] };
    });
    const ct = new Uint8Array(reply.data!);
    const out = new Uint8Array(1 + IV_LENGTH + ct.length);
    out[0] = WRAP_VERSION;
    out.set(iv, 1);
    out.set(ct, 1 + IV_LENGTH);
    return out;
  }

  async unwrap(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    abytes('wrapped', wrapped);
    abytes('context', context);
    try {
      return await this.#decrypt(wrapped, context);
    } catch (err) {
      if (!(err instanceof ThreadFailure)) throw err;
      if (err.kind === 'decrypt') throw decryptionFailed();
      // A generic error code from C_Decrypt: a bad ciphertext if the token still unwraps the
      // known value, a failing token if not.
      if (err.kind === 'ambiguous') {
        if (await this.#canaryHolds()) throw decryptionFailed();
        this.#down(err.message);
      }
      throw this.#unavailable(err);
    }
  }

  /** Decrypts in the token into an off-heap buffer the caller owns (moved from the PKCS#11 thread). */
  async #decrypt(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    const n = wrapped.length - 1 - IV_LENGTH - TAG_LENGTH;
    if (n < 1 || n > MAX_PLAINTEXT || wrapped[0] !== WRAP_VERSION) throw new ThreadFailure('decrypt', 'not a wrapped value');
    const iv = wrapped.slice(1, 1 + IV_LENGTH);
    const data = wrapped.slice(1 + IV_LENGTH);
    const reply = await this.#run(() => ({ req: { op: 'decrypt', iv, aad: context, data } }));
    return new Uint8Array(reply.data!, 0, n);
  }

  async #canaryHolds(): Promise<boolean> {
    if (this.#canary === undefined) return false;
    try {
      const zero = await this.#decrypt(this.#canary, CANARY_CONTEXT);
      const holds = zero.length === 32 && zero.every((b) => b === 0);
      wipe(zero);
      return holds;
    } catch {
      return false;
    }
  }

  /**
   * Runs one request on a free session. A session or token failure marks the key down and is
   * retried once at once (the reconnect usually succeeds when only the sessions were lost);
   * a time-out is not retried (the token hangs).
   */
  async #run(make: () => { req: Request; transfer?: ArrayBuffer[] }, retried = false): Promise<Success> {
    this.#active++;
    try {
      return await this.#runOnce(make, retried);
    } finally {
      if (--this.#active === 0) for (const resolve of this.#whenInactive.splice(0)) resolve();
    }
  }

  async #runOnce(make: () => { req: Request; transfer?: ArrayBuffer[] }, retried: boolean): Promise<Success> {
    const deadline = Date.now() + this.#o.timeoutMs;
    await this.#ensureUp(deadline);
    const thread = await this.#acquire(deadline);
    const { req, transfer } = make();
    const reply = thread.request(req, Math.max(1, deadline - Date.now()), transfer);
    void thread.idle().then(() => this.#release(thread));
    try {
      return await reply;
    } catch (err) {
      if (!(err instanceof ThreadFailure) || err.kind === 'decrypt' || err.kind === 'ambiguous') throw err;
      if (err.kind === 'timeout') {
        this.#down(err.message);
        throw this.#unavailable(err);
      }
      this.#down(err.message, true);
      if (retried || this.#closing !== undefined) throw this.#unavailable(err);
      return this.#runOnce(make, true);
    }
  }

  async #ensureUp(deadline: number): Promise<void> {
    if (this.#status === 'closed' || this.#closing !== undefined) throw new TokumeiError('ERR_DESTROYED', 'the PKCS#11 master key was closed');
    if (this.#status === 'up' && moduleState(this.#o.library).generation !== this.#generation) this.#down('the PKCS#11 module was re-initialized', true);
    if (this.#status === 'up') return;
    if (this.#status === 'refused') throw this.#unavailable(new ThreadFailure('login', this.#reason));
    if (this.#reconnecting === undefined) {
      const wait = this.#lastAttempt + this.#o.retryIntervalMs - Date.now();
      if (wait > 0) throw this.#unavailable(new ThreadFailure('unavailable', `${this.#reason} (next reconnect in ${wait} ms)`));
      this.#reconnecting = this.#reconnect().finally(() => {
        this.#reconnecting = undefined;
      });
    }
    await beforeDeadline(this.#reconnecting, deadline, `reconnecting to the token took longer than ${this.#o.timeoutMs} ms`).catch((err: unknown) => {
      throw this.#unavailable(err);
    });
  }

  #acquire(deadline: number): Promise<Pkcs11Thread> {
    const free = this.#idle.pop();
    if (free !== undefined) return Promise.resolve(free);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          reject(this.#unavailable(new ThreadFailure('timeout', `no session became free within ${this.#o.timeoutMs} ms`)));
        }, Math.max(0, deadline - Date.now())),
      };
      this.#waiters.push(waiter);
    });
  }

  /** A session is free again: to the next waiter, or back to the pool (while down, the next #up() collects it). */
  #release(thread: Pkcs11Thread): void {
    if (this.#status !== 'up' || this.#idle.includes(thread)) return;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.#idle.push(thread);
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve(thread);
  }

  #up(): void {
    this.#generation = moduleState(this.#o.library).generation;
    this.#status = 'up';
    this.#idle = this.#threads.filter((t) => !t.busy);
    for (const t of this.#threads) if (t.busy) void t.idle().then(() => this.#release(t));
  }

  #down(reason: string, retryNow = false): void {
    if (this.#status !== 'up') return;
    this.#status = 'down';
    this.#reason = reason;
    this.#lastAttempt = retryNow ? 0 : Date.now();
    this.#idle = [];
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.#unavailable(new ThreadFailure('unavailable', reason)));
    }
    this.#tell('down', reason);
  }

  /** Connects the first session (with the login) and then the others; returns the key's facts. */
  async #connect(create: boolean, deadline: number): Promise<KeyFacts> {
    const { library, tokenLabel, keyLabel } = this.#o;
    const remaining = () => Math.max(1, deadline - Date.now());
    let pin: string;
    try {
      pin = await this.#o.pin();
    } catch (err) {
      throw new ThreadFailure('unavailable', `the "pin" function failed (${err instanceof Error ? err.name : typeof err})`);
    }
    const first = await this.#threads[0]!.request({ op: 'connect', library, tokenLabel, keyLabel, pin, create }, remaining());
    await Promise.all(this.#threads.slice(1).map((t) => t.request({ op: 'connect', library, tokenLabel, keyLabel, create: false }, remaining())));
    return first.key!;
  }

  /** Closes every session, when their handles still belong to the module's current initialization. */
  async #disconnect(deadline: number): Promise<void> {
    const closeSession = moduleState(this.#o.library).generation === this.#generation;
    await Promise.all(this.#threads.map((t) => t.request({ op: 'disconnect', closeSession }, Math.max(1, deadline - Date.now()))));
  }

  async #reconnect(): Promise<void> {
    this.#lastAttempt = Date.now();
    const deadline = this.#lastAttempt + this.#connectTimeoutMs;
    const module = moduleState(this.#o.library);
    try {
      await beforeDeadline(Promise.all(this.#threads.map((t) => t.idle())), deadline, 'a PKCS#11 call is still running');
      // A thread that stopped (it should not) is replaced; its session went with it.
      for (let i = 0; i < this.#threads.length; i++) if (this.#threads[i]!.dead) this.#threads[i] = new Pkcs11Thread(this.#pkcs11jsPath, module);
      await this.#disconnect(deadline);
      let facts: KeyFacts;
      const generation = module.generation;
      try {
        facts = await this.#connect(false, deadline);
      } catch (err) {
        // A token that was removed and restored is seen again only after C_Finalize and
        // C_Initialize: done when no call of any master key runs in the module.
        if (!(err instanceof ThreadFailure) || err.kind === 'login' || err.kind === 'timeout' || module.running > 0 || module.generation !== generation) throw err;
        await this.#threads[0]!.request({ op: 'reinitialize' }, Math.max(1, deadline - Date.now()));
        module.generation++;
        await this.#disconnect(deadline);
        facts = await this.#connect(false, deadline);
      }
      if (!equalBytes(facts.ckaId, this.#ckaId)) throw new ThreadFailure('config', `the key labelled "${this.#o.keyLabel}" is not the key this master key was opened with (another CKA_ID)`);
      this.#up();
      if (!(await this.#canaryHolds())) {
        this.#down('the key labelled "' + this.#o.keyLabel + '" no longer unwraps what it wrapped');
        throw new ThreadFailure('config', this.#reason);
      }
      this.#tell('up');
    } catch (err) {
      if (this.#status === 'up') this.#down(err instanceof Error ? err.message : String(err));
      this.#lastAttempt = Date.now();
      if (err instanceof ThreadFailure && err.kind === 'login' && this.#status !== 'closed') {
        this.#status = 'refused';
        this.#reason = err.message;
        this.#tell('refused', err.message);
      } else if (err instanceof Error) {
        this.#reason = err.message;
      }
      throw this.#unavailable(err);
    }
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    // Operations that started before the close finish (or time out by themselves); new ones are refused.
    if (this.#active > 0) await new Promise<void>((resolve) => this.#whenInactive.push(resolve));
    this.#status = 'closed';
    this.#idle = [];
    for (const w of this.#waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new TokumeiError('ERR_DESTROYED', 'the PKCS#11 master key was closed'));
    }
    await this.#reconnecting?.catch(() => undefined);
    await this.#shutdown();
  }

  /** Waits for running calls (bounded), closes the sessions, finalizes the module if last, stops the threads. */
  async #shutdown(): Promise<void> {
    const deadline = Date.now() + this.#o.timeoutMs;
    const settled = await beforeDeadline(Promise.all(this.#threads.map((t) => t.idle())), deadline, '').then(
      () => true,
      () => false,
    );
    await this.#disconnect(deadline).catch(() => undefined);
    // C_Finalize while a call still runs in the module is undefined behaviour: skipped then.
    const first = this.#threads[0]!;
    await releaseModule(this.#o.library, settled ? () => first.request({ op: 'finalize' }, Math.max(1, deadline - Date.now())).then(() => undefined, () => undefined) : undefined);
    // A thread stuck in a call of a hung token stops when the call returns; close does not wait for it.
    await Promise.all(this.#threads.map((t) => (t.busy ? void t.terminate() : t.terminate())));
  }

  /** Tells `onStatus`; an exception it throws is the listener's own and cannot disturb the master key. */
  #tell(status: Pkcs11Status, reason?: string): void {
    try {
      this.#o.onStatus?.(status, reason);
    } catch {
      // ignored, as documented on `onStatus`
    }
  }

  #unavailable(err: unknown): TokumeiError {
    if (err instanceof TokumeiError) return err;
    const reason = err instanceof Error ? err.message : 'unknown failure';
    // An outage, not a missing key: the key environment answers 503 and browsers retry.
    return new KeyEnvironmentOutage(`the master key "${this.#o.keyLabel}" in token "${this.#o.tokenLabel}" is unavailable: ${reason}`, { cause: err, retryAfterMs: Math.max(1000, this.#o.retryIntervalMs) });
  }

  /** Never prints a PIN or key material. */
  toJSON(): { id: string; tokenLabel: string; keyLabel: string; status: Pkcs11Status } {
    return { id: this.id, tokenLabel: this.#o.tokenLabel, keyLabel: this.#o.keyLabel, status: this.#status };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Pkcs11MasterKey { id: '${this.id}', tokenLabel: '${this.#o.tokenLabel}', keyLabel: '${this.#o.keyLabel}', status: '${this.#status}' }`;
  }
}

/**
 * The path of pkcs11js: resolved from where tokumei is installed, or else from the working
 * directory (a key environment bundled into one file no longer sits next to its node_modules).
 */
function resolvePkcs11js(): string {
  let cause: unknown;
  for (const from of [import.meta.url, join(process.cwd(), 'package.json')]) {
    try {
      return createRequire(from).resolve('pkcs11js');
    } catch (err) {
      cause ??= err;
    }
  }
  throw new TokumeiError('ERR_KEY_UNAVAILABLE', 'pkcs11MasterKey needs the optional peer dependency pkcs11js: npm install --save-exact pkcs11js@2.1.7', { cause });
}

/**
 * The master key in an HSM (or any PKCS#11 token: SoftHSM2 for development), through the
 * optional peer dependency pkcs11js (resolved where tokumei is installed, or else from the
 * working directory), loaded only now. Member keys are
 * wrapped and unwrapped inside the token with CKM_AES_GCM under an AES-256 key that never
 * leaves it, with the wrap context (member id, key id, version) as additional authenticated
 * data — the same binding and the same wrapped format as {@link localMasterKey}. The library
 * makes every IV. An unwrapped member key leaves the token only into an off-heap buffer that is
 * moved (not copied) to the caller, who wipes it as with any master key.
 *
 * One login; `sessions` sessions, each on its own thread so that no PKCS#11 call ever blocks the
 * event loop; while the token or its sessions are gone, operations fail with
 * `ERR_KEY_UNAVAILABLE` and the master key reconnects by itself (at most once per
 * `retryIntervalMs`). A refused PIN is never retried. At open it checks the key (AES-256,
 * sensitive, not extractable unless only under trusted keys, may encrypt and decrypt) and that
 * the token enforces the additional data. Close it on shutdown.
 *
 * @param options - see {@link Pkcs11MasterKeyOptions}
 * @returns the master key, connected
 * @throws TokumeiError `ERR_KEY_UNAVAILABLE` when pkcs11js is not installed, the module does not
 *   load, no (or several) tokens or keys carry the label, the token refuses the PIN, the key or
 *   the mechanism is not as required, or the token does not answer; messages never contain the
 *   PIN. TypeError / RangeError for malformed options.
 * @example
 * ```ts
 * import { createKeyEnvironment, pkcs11MasterKey } from 'tokumei/server';
 * const masterKey = await pkcs11MasterKey({
 *   library: '/usr/lib/softhsm/libsofthsm2.so',
 *   tokenLabel: 'key-env',
 *   pin: () => readPinFromSecretStore(),
 *   keyLabel: 'tokumei-master-2025',
 * });
 * const env = createKeyEnvironment({ masterKey, store, authenticate });
 * process.on('SIGTERM', () => void masterKey.close());
 * ```
 */
export async function pkcs11MasterKey(options: Pkcs11MasterKeyOptions): Promise<Pkcs11MasterKey> {
  const o = resolveOptions(options);
  const key = new Pkcs11Key(o, resolvePkcs11js());
  await key.open();
  return key;
}
