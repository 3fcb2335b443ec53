// The key environment composed from its options: each concern's context (member keys, delivery,
// rotation) over one master key set, store, session registry and clock (internal;
// `createKeyEnvironment` is the public surface).
import { dpopChecker } from './auth/dpop.ts';
import { endTokens } from './auth/end-token.ts';
import type { DeliveryContext } from './delivery/deliver.ts';
import { checkLimits } from './limits/delivery-limits.ts';
import { unwrapperFor } from './master-keys/wrap.ts';
import type { MemberKeyContext } from './member-keys/admin.ts';
import { checkEnvironmentOptions, type KeyEnvironmentOptions } from './options.ts';
import { statusOf, type RekeyContext } from './rotation/rekey.ts';
import { memorySessionRegistry } from './sessions/memory-registry.ts';
import type { SessionRegistry } from './sessions/registry.ts';

const DEFAULT_REKEY_GRACE_MS = 5 * 60_000;

/** A key environment's parts (internal). */
export interface EnvironmentParts {
  keys: MemberKeyContext;
  delivery: DeliveryContext;
  rekey: RekeyContext;
  sessions: SessionRegistry;
  now: () => number;
}

/**
 * Checks the options and wires the parts.
 * @throws TypeError / RangeError when an option is missing or malformed
 */
export function composeEnvironment(options: KeyEnvironmentOptions): EnvironmentParts {
  const checked = checkEnvironmentOptions(options);
  const store = options.store;
  const sessions = options.sessions ?? memorySessionRegistry();
  const now = options.now ?? Date.now;
  const unwrap = unwrapperFor(options.masterKey, options.previousMasterKeys ?? []);
  const rekey: RekeyContext = { store, sessions, now, graceMs: options.rekeyGraceMs ?? DEFAULT_REKEY_GRACE_MS };
  const delivery: DeliveryContext = {
    store,
    sessions,
    authenticate: options.authenticate,
    // Used proof ids live in the session registry: shared by every instance that shares it.
    dpop: dpopChecker({ ...checked.dpop, replay: sessions, now }),
    dpopRequired: checked.dpopRequired,
    lifetimeMs: checked.lifetimeMs,
    limits: checkLimits(options.limits),
    now,
    unwrap,
    onDeliver: options.onDeliver,
    audit: options.audit,
    keyLog: options.unsafeKeyLog,
    endTokens: endTokens(checked.sharedSecret),
    status: (sessionId, keyId) => statusOf(rekey, sessionId, keyId),
  };
  return { keys: { store, masterKey: options.masterKey, unwrap, now }, delivery, rekey, sessions, now };
}
