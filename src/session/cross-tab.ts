// Telling the other tabs of this origin that the member logged off (or was revoked), so every
// tab wipes its keys (DESIGN G5). BroadcastChannel where it exists; otherwise a `storage` event,
// which every other same-origin tab receives when one writes to localStorage.
// Messages carry no secret: a kind, a reason and a random nonce (so repeats are distinct).

/** What a tab tells the others. */
export interface CrossTabMessage {
  type: 'wipe';
  reason: 'logoff' | 'revoked';
}

const CHANNEL = 'tokumei/session';
const STORAGE_KEY = 'tokumei/session-signal';

function parse(data: unknown): CrossTabMessage | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const { type, reason } = data as Record<string, unknown>;
  if (type !== 'wipe' || (reason !== 'logoff' && reason !== 'revoked')) return undefined;
  return { type, reason };
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
export function listenCrossTab(onMessage: (message: CrossTabMessage) => void): CrossTabListener | undefined {
  if (typeof BroadcastChannel === 'function') {
    const channel = new BroadcastChannel(CHANNEL);
    channel.onmessage = (event: MessageEvent) => {
      const m = parse(event.data);
      if (m !== undefined) onMessage(m);
    };
    // Node: an open channel must not keep the process alive on its own.
    (channel as { unref?: () => void }).unref?.();
    return { close: () => channel.close() };
  }
  if (typeof addEventListener === 'function' && storage() !== undefined) {
    const onStorage = (event: StorageEvent): void => {
      if (event.key !== STORAGE_KEY || event.newValue === null) return;
      let data: unknown;
      try {
        data = JSON.parse(event.newValue);
      } catch {
        return;
      }
      const m = parse(data);
      if (m !== undefined) onMessage(m);
    };
    addEventListener('storage', onStorage);
    return { close: () => removeEventListener('storage', onStorage) };
  }
  return undefined;
}

/** Tells every other tab of this origin. Best effort: never throws. */
export function postCrossTab(message: CrossTabMessage): void {
  try {
    if (typeof BroadcastChannel === 'function') {
      const channel = new BroadcastChannel(CHANNEL);
      channel.postMessage(message);
      channel.close();
      return;
    }
    const s = storage();
    if (s === undefined) return;
    // The storage event fires in other tabs on every change; the nonce makes each signal a change.
    s.setItem(STORAGE_KEY, JSON.stringify({ ...message, nonce: Math.random() }));
    s.removeItem(STORAGE_KEY);
  } catch {
    // Quota or a closed channel: the other tabs still wipe at their own idle or absolute expiry.
  }
}
