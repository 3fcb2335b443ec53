// Telling the other tabs of this origin that the member logged off (or was revoked), so every
// tab wipes its keys (G5, docs/threat-model.md §4). BroadcastChannel where it exists; otherwise a `storage` event,
// which every other same-origin tab receives when one writes to localStorage.
// A message is only the reason — no secret, no session id: logoff in one tab ends every tab.

/** What a tab tells the others. */
export type CrossTabReason = 'logoff' | 'revoked';

const CHANNEL = 'tokumei/session';
const STORAGE_KEY = 'tokumei/session-signal';

function parse(data: unknown): CrossTabReason | undefined {
  return data === 'logoff' || data === 'revoked' ? data : undefined;
}

function storage(): Storage | undefined {
  try {
    return globalThis.localStorage ?? undefined;
  } catch {
    return undefined; // a SecurityError where storage is blocked
  }
}

/** A subscription to messages from other tabs. */
export interface CrossTabListener {
  close(): void;
}

/**
 * Listens for messages from other tabs. Returns `undefined` where neither BroadcastChannel nor
 * `storage` events exist (Node without a DOM): there are no other tabs to hear from.
 */
export function listenCrossTab(onMessage: (reason: CrossTabReason) => void): CrossTabListener | undefined {
  const deliver = (data: unknown): void => {
    const reason = parse(data);
    if (reason !== undefined) onMessage(reason);
  };
  if (typeof BroadcastChannel === 'function') {
    const channel = new BroadcastChannel(CHANNEL);
    channel.onmessage = (event: MessageEvent) => deliver(event.data);
    // Node: an open channel must not keep the process alive on its own.
    (channel as { unref?: () => void }).unref?.();
    return { close: () => channel.close() };
  }
  if (typeof addEventListener === 'function' && storage() !== undefined) {
    // The value is `<reason> <random>`: the random part makes every signal a change.
    const onStorage = (event: StorageEvent): void => {
      if (event.key === STORAGE_KEY) deliver(event.newValue?.split(' ')[0]);
    };
    addEventListener('storage', onStorage);
    return { close: () => removeEventListener('storage', onStorage) };
  }
  return undefined;
}

/** Tells every other tab of this origin. Best effort: never throws. */
export function postCrossTab(reason: CrossTabReason): void {
  try {
    if (typeof BroadcastChannel === 'function') {
      const channel = new BroadcastChannel(CHANNEL);
      channel.postMessage(reason);
      channel.close();
      return;
    }
    const s = storage();
    s?.setItem(STORAGE_KEY, `${reason} ${Math.random()}`);
    s?.removeItem(STORAGE_KEY);
  } catch {
    // Quota or a closed channel: the other tabs still wipe at their own idle or absolute expiry.
  }
}
