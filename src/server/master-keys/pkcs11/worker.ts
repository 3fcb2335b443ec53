// The PKCS#11 thread: one per session of the pool. Every PKCS#11 call runs here, never on the
// main thread, because pkcs11js's C_*Init and C_Login are synchronous and a network HSM answers
// each one with a round trip: on the main thread a slow or hung HSM would freeze the key
// environment (measured: a SoftHSM2 token whose files another process holds locked blocks
// C_DecryptInit for as long as the lock is held). Internal.
//
// `pkcs11Thread` is started as an eval'd worker from its own source text (thread-pool.ts), so it
// must not use anything from its module: only its parameters and globals.
import type * as Pkcs11 from 'pkcs11js';
import type { MessagePort } from 'node:worker_threads';

/** What the main thread asks a PKCS#11 thread to do. */
export type ThreadRequest =
  | { id: number; op: 'connect'; library: string; tokenLabel: string; keyLabel: string; pin?: string; create: boolean }
  | { id: number; op: 'encrypt'; iv: Uint8Array; aad: Uint8Array; data: ArrayBuffer }
  | { id: number; op: 'decrypt'; iv: Uint8Array; aad: Uint8Array; data: Uint8Array }
  | { id: number; op: 'disconnect'; closeSession: boolean }
  | { id: number; op: 'reinitialize' }
  | { id: number; op: 'finalize' };

/**
 * Why a request failed. `decrypt`: the ciphertext did not authenticate (the token said so);
 * `ambiguous`: C_Decrypt failed with a generic code (SoftHSM2 2.6 answers a bad tag with
 * CKR_GENERAL_ERROR), to be told apart by a known-good decryption; `login`: the token refused
 * the PIN (never retried: a retry could lock the token); `config`: the token, the key or the
 * mechanism is not as required; `unavailable`: anything else (the token or session went away).
 */
export type FailureKind = 'decrypt' | 'ambiguous' | 'login' | 'config' | 'unavailable';

/** The public facts of the master key object a `connect` found (or created). */
export interface KeyFacts {
  /** CKA_ID (may be empty). */
  ckaId: Uint8Array;
  /** Whether this `connect` generated the key. */
  created: boolean;
}

/** A PKCS#11 thread's answer. Messages name PKCS#11 return values and labels, never a PIN or data. */
export type ThreadReply =
  | { id: number; ok: true; key?: KeyFacts; data?: ArrayBuffer }
  | { id: number; ok: false; kind: FailureKind; message: string };

/** The body of a PKCS#11 thread. Self-contained: see the file comment. */
export function pkcs11Thread(port: MessagePort, pkcs11jsPath: string, load: (path: string) => unknown): void {
  const P = load(pkcs11jsPath) as typeof Pkcs11;
  let p: Pkcs11.PKCS11 | undefined;
  let session: Pkcs11.Handle | undefined;
  let key: Pkcs11.Handle | undefined;

  class Failure extends Error {
    constructor(
      readonly kind: FailureKind,
      message: string,
    ) {
      super(message);
    }
  }
  /** The CKR_… name of a pkcs11js error (its message is exactly that name; never any argument). */
  const rvName = (err: unknown): string => {
    const m = /^CKR_[A-Z0-9_]+/.exec(String((err as Error | undefined)?.message ?? ''));
    return m === null ? 'an error of the PKCS#11 module' : m[0];
  };
  const is = (err: unknown, ...names: string[]): boolean => names.includes(rvName(err));
  const call = <T>(what: string, fn: () => T, kind: FailureKind = 'unavailable'): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof Failure) throw err;
      throw new Failure(kind, `${what} failed: ${rvName(err)}`);
    }
  };
  const module = (): Pkcs11.PKCS11 => {
    if (p === undefined) throw new Failure('unavailable', 'the PKCS#11 module is not loaded');
    return p;
  };
  const initialize = (m: Pkcs11.PKCS11): void => {
    try {
      m.C_Initialize({ flags: P.CKF_OS_LOCKING_OK }); // several threads call into the module
    } catch (err) {
      if (!is(err, 'CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw new Failure('unavailable', `C_Initialize failed: ${rvName(err)}`);
    }
  };
  const findSlot = (m: Pkcs11.PKCS11, label: string): Pkcs11.Handle => {
    const found = call('C_GetSlotList', () => m.C_GetSlotList(true)).filter((slot) => {
      try {
        return m.C_GetTokenInfo(slot).label.trimEnd() === label;
      } catch {
        return false; // a token being removed
      }
    });
    if (found.length !== 1) throw new Failure('config', found.length === 0 ? `no token labelled "${label}" is present` : `${found.length} tokens are labelled "${label}"`);
    return found[0]!;
  };
  const findKeys = (m: Pkcs11.PKCS11, s: Pkcs11.Handle, label: string): Pkcs11.Handle[] =>
    call('C_FindObjects', () => {
      m.C_FindObjectsInit(s, [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_LABEL, value: label },
      ]);
      try {
        return m.C_FindObjects(s, 2);
      } finally {
        m.C_FindObjectsFinal(s);
      }
    });
  const generate = (m: Pkcs11.PKCS11, slot: Pkcs11.Handle, label: string): Pkcs11.Handle => {
    const rw = call('C_OpenSession', () => m.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION));
    try {
      const ckaId = new Uint8Array(16);
      crypto.getRandomValues(ckaId);
      // Made inside the token, never extractable: it encrypts and decrypts, and nothing else.
      return call('C_GenerateKey', () =>
        m.C_GenerateKey(rw, { mechanism: P.CKM_AES_KEY_GEN }, [
          { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
          { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
          { type: P.CKA_VALUE_LEN, value: 32 },
          { type: P.CKA_LABEL, value: label },
          { type: P.CKA_ID, value: Buffer.from(ckaId) },
          { type: P.CKA_TOKEN, value: true },
          { type: P.CKA_PRIVATE, value: true },
          { type: P.CKA_SENSITIVE, value: true },
          { type: P.CKA_EXTRACTABLE, value: false },
          { type: P.CKA_ENCRYPT, value: true },
          { type: P.CKA_DECRYPT, value: true },
          { type: P.CKA_WRAP, value: false },
          { type: P.CKA_UNWRAP, value: false },
          { type: P.CKA_SIGN, value: false },
          { type: P.CKA_VERIFY, value: false },
          { type: P.CKA_DERIVE, value: false },
          { type: P.CKA_MODIFIABLE, value: false },
        ]),
      );
    } finally {
      try {
        m.C_CloseSession(rw);
      } catch {
        // the generated key is a token object: it outlives this session either way
      }
    }
  };
  const attribute = (m: Pkcs11.PKCS11, s: Pkcs11.Handle, k: Pkcs11.Handle, type: number): Buffer | undefined => {
    try {
      return m.C_GetAttributeValue(s, k, [{ type }])[0]?.value;
    } catch {
      return undefined; // not supported by this module
    }
  };
  const flag = (value: Buffer | undefined): boolean | undefined => (value === undefined || value.length === 0 ? undefined : value[0] !== 0);
  const checkKey = (m: Pkcs11.PKCS11, s: Pkcs11.Handle, k: Pkcs11.Handle, label: string): Uint8Array => {
    const keyType = attribute(m, s, k, P.CKA_KEY_TYPE);
    const length = attribute(m, s, k, P.CKA_VALUE_LEN);
    const problem = (what: string) => new Failure('config', `the key labelled "${label}" ${what}`);
    if (keyType === undefined || keyType.readUIntLE(0, Math.min(keyType.length, 6)) !== P.CKK_AES) throw problem('is not an AES key');
    if (length === undefined || length.readUIntLE(0, Math.min(length.length, 6)) !== 32) throw problem('is not 256 bits long');
    if (flag(attribute(m, s, k, P.CKA_ENCRYPT)) !== true || flag(attribute(m, s, k, P.CKA_DECRYPT)) !== true) throw problem('may not encrypt and decrypt (CKA_ENCRYPT, CKA_DECRYPT)');
    if (flag(attribute(m, s, k, P.CKA_SENSITIVE)) !== true) throw problem('is not sensitive (CKA_SENSITIVE): its value could be read out of the token');
    if (flag(attribute(m, s, k, P.CKA_EXTRACTABLE)) !== false && flag(attribute(m, s, k, P.CKA_WRAP_WITH_TRUSTED)) !== true) {
      throw problem('is extractable (CKA_EXTRACTABLE) without CKA_WRAP_WITH_TRUSTED: it could be wrapped out of the token under any key');
    }
    return new Uint8Array(attribute(m, s, k, P.CKA_ID) ?? new Uint8Array(0));
  };
  const gcm = (iv: Uint8Array, aad: Uint8Array): Pkcs11.Mechanism => ({
    mechanism: P.CKM_AES_GCM,
    // CK_GCM_PARAMS of PKCS#11 2.40 errata / 3.0 (with ulIvBits), which SoftHSM2 and most HSMs read.
    parameter: { type: P.CK_PARAMS_AES_GCM_v240, iv: Buffer.from(iv), ivBits: 96, aad: Buffer.from(aad), tagBits: 128 } as Pkcs11.IParams,
  });
  const ready = (): { m: Pkcs11.PKCS11; s: Pkcs11.Handle; k: Pkcs11.Handle } => {
    if (session === undefined || key === undefined) throw new Failure('unavailable', 'not connected');
    return { m: module(), s: session, k: key };
  };

  const handle = (req: ThreadRequest): { reply: ThreadReply; transfer?: ArrayBuffer[] } => {
    switch (req.op) {
      case 'connect': {
        if (p === undefined) {
          const m = new P.PKCS11();
          call(`loading the PKCS#11 module "${req.library}"`, () => m.load(req.library), 'config');
          p = m;
        }
        const m = p;
        initialize(m);
        const slot = findSlot(m, req.tokenLabel);
        const mech = call('C_GetMechanismInfo', () => m.C_GetMechanismInfo(slot, P.CKM_AES_GCM), 'config');
        if ((mech.flags & (P.CKF_ENCRYPT | P.CKF_DECRYPT)) !== (P.CKF_ENCRYPT | P.CKF_DECRYPT)) throw new Failure('config', `token "${req.tokenLabel}" does not offer CKM_AES_GCM for encryption and decryption`);
        const s = call('C_OpenSession', () => m.C_OpenSession(slot, P.CKF_SERIAL_SESSION));
        try {
          if (req.pin !== undefined) {
            try {
              m.C_Login(s, P.CKU_USER, req.pin);
            } catch (err) {
              const name = rvName(err);
              if (name.startsWith('CKR_PIN_') || name === 'CKR_USER_PIN_NOT_INITIALIZED') throw new Failure('login', `token "${req.tokenLabel}" refused the PIN (${name})`);
              if (name !== 'CKR_USER_ALREADY_LOGGED_IN') throw new Failure('unavailable', `C_Login failed: ${name}`);
            }
          }
          let keys = findKeys(m, s, req.keyLabel);
          let created = false;
          if (keys.length === 0 && req.create) {
            keys = [generate(m, slot, req.keyLabel)];
            created = true;
          }
          if (keys.length !== 1) throw new Failure('config', keys.length === 0 ? `no key labelled "${req.keyLabel}" in token "${req.tokenLabel}"` : `several keys are labelled "${req.keyLabel}" in token "${req.tokenLabel}"`);
          const ckaId = checkKey(m, s, keys[0]!, req.keyLabel);
          session = s;
          key = keys[0]!;
          return { reply: { id: req.id, ok: true, key: { ckaId, created } } };
        } catch (err) {
          try {
            m.C_CloseSession(s);
          } catch {
            // the session is gone already
          }
          throw err;
        }
      }
      case 'encrypt': {
        const { m, s, k } = ready();
        const plaintext = new Uint8Array(req.data); // transferred to this thread; wiped below
        try {
          call('C_EncryptInit', () => m.C_EncryptInit(s, gcm(req.iv, req.aad), k));
          const out = call('C_Encrypt', () => m.C_Encrypt(s, Buffer.from(plaintext.buffer, plaintext.byteOffset, plaintext.length), Buffer.alloc(plaintext.length + 16)));
          if (out.length !== plaintext.length + 16) throw new Failure('unavailable', `C_Encrypt returned ${out.length} bytes, expected ${plaintext.length + 16}`);
          const data = new ArrayBuffer(out.length);
          new Uint8Array(data).set(out);
          return { reply: { id: req.id, ok: true, data }, transfer: [data] };
        } finally {
          plaintext.fill(0);
        }
      }
      case 'decrypt': {
        const { m, s, k } = ready();
        // The member key leaves the token only into this off-heap buffer, which is transferred
        // (moved, not copied) to the main thread; at least the ciphertext's length (SoftHSM2
        // asks for it) and 64 bytes.
        const data = new ArrayBuffer(Math.max(req.data.length, 64));
        const out = Buffer.from(data);
        call('C_DecryptInit', () => m.C_DecryptInit(s, gcm(req.iv, req.aad), k));
        let n: number;
        try {
          n = m.C_Decrypt(s, Buffer.from(req.data.buffer, req.data.byteOffset, req.data.length), out).length;
        } catch (err) {
          out.fill(0);
          if (is(err, 'CKR_ENCRYPTED_DATA_INVALID', 'CKR_ENCRYPTED_DATA_LEN_RANGE', 'CKR_AEAD_DECRYPT_FAILED')) throw new Failure('decrypt', 'C_Decrypt: the data did not authenticate');
          if (is(err, 'CKR_GENERAL_ERROR', 'CKR_FUNCTION_FAILED')) throw new Failure('ambiguous', `C_Decrypt failed: ${rvName(err)}`);
          throw new Failure('unavailable', `C_Decrypt failed: ${rvName(err)}`);
        }
        if (n !== req.data.length - 16) {
          out.fill(0);
          throw new Failure('unavailable', `C_Decrypt returned ${n} bytes, expected ${req.data.length - 16}`);
        }
        return { reply: { id: req.id, ok: true, data }, transfer: [data] };
      }
      case 'disconnect': {
        // A session handle from before a C_Finalize means nothing now (and may have been reused):
        // the main thread says whether it is still this module's.
        if (req.closeSession && session !== undefined && p !== undefined) {
          try {
            p.C_CloseSession(session);
          } catch {
            // already gone
          }
        }
        session = key = undefined;
        return { reply: { id: req.id, ok: true } };
      }
      case 'reinitialize': {
        const m = module();
        try {
          m.C_Finalize();
        } catch {
          // not initialized, or the token vanished: initialize afresh either way
        }
        session = key = undefined;
        call('C_Initialize', () => m.C_Initialize({ flags: P.CKF_OS_LOCKING_OK }));
        return { reply: { id: req.id, ok: true } };
      }
      case 'finalize': {
        session = key = undefined;
        if (p !== undefined) {
          try {
            p.C_Finalize();
          } catch {
            // nothing to finalize
          }
        }
        return { reply: { id: req.id, ok: true } };
      }
    }
  };

  port.on('message', (req: ThreadRequest) => {
    let answer: { reply: ThreadReply; transfer?: ArrayBuffer[] };
    try {
      answer = handle(req);
    } catch (err) {
      const failure = err instanceof Failure ? err : new Failure('unavailable', `PKCS#11 call failed: ${rvName(err)}`);
      answer = { reply: { id: req.id, ok: false, kind: failure.kind, message: failure.message } };
    }
    port.postMessage(answer.reply, answer.transfer ?? []);
  });
}
