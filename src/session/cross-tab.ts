// Telling the other tabs of this origin that a member logged off (or a session was revoked), so
// their tabs wipe their keys (G5, docs/threat-model.md §4). BroadcastChannel where it exists;
// otherwise a `storage` event, which every other same-origin tab receives when one writes to
// localStorage. Channel and storage key are scoped by the session's `namespace`, and a message
// names its session and its member's primary key ids (public facts, no secret), so a tab wipes only for
// its own session or its own member (client-session.ts) — two portals, or two members, on one
// origin never wipe each other.

/** What a tab tells the others. */
export type CrossTabReason = 'logoff' | 'revoked';

/** A message between tabs: public facts only. */
export interface CrossTabMessage {
  reason: CrossTabReason;
  /** The key environment's session id (public). */
  sessionId: string;
  /**
   * The ids of the member's primary keys the sender has sealed with (public: each is in every
   * value sealed under it; several after a rotation). Never a dependant's key id.
   */
  keyIds: string[];
}

function parse(data: unknown): CrossTabMessage | undefined {
  // Only same-origin script can post here; the reason is checked, the ids are compared by the
  // receiver with `===`, so a malformed message matches nothing.
  const m = data as CrossTabMessage | null | undefined;
  return m?.reason === 'logoff' || m?.reason === 'revoked' ? m : undefined;
}

/** The channel name (and localStorage key) of a namespace. */
function channelName(namespace: string | undefined): string {
  return namespace === undefined ? 'tokumei/session' : `tokumei/session/${namespace}`;
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
 * Listens for messages from other tabs of `namespace`. Returns `undefined` where neither
 * BroadcastChannel nor `storage` events exist (Node without a DOM): there are no other tabs.
 */
export function listenCrossTab(namespace: string | undefined, onMessage: (message: CrossTabMessage) => void): CrossTabListener | undefined {
  const name = channelName(namespace);
  const deliver = (data: unknown): void => {
    const message = parse(data);
    if (message !== undefined) onMessage(message);
  };
  if (typeof BroadcastChannel === 'function') {
    const channel = new BroadcastChannel(name);
    channel.onmessage = (event: MessageEvent) => deliver(event.data);
    // Node: an open channel must not keep the process alive on its own.
    (channel as { unref?: () => void }).unref?.();
    return { close: () => channel.close() };
  }
  const s = storage();
  if (typeof addEventListener === 'function' && s !== undefined) {
    // WebKit delivers `storage` events only to a page that has read its storage area (measured
    // in WebKitGTK 2.50: a page that only took `localStorage` heard nothing): read it once.
    try {
      s.getItem(name);
    } catch {
      // nothing to hear from, then; the other triggers still wipe this tab
    }
    const onStorage = (event: StorageEvent): void => {
      if (event.key !== name || event.newValue === null) return;
      try {
        deliver(JSON.parse(event.newValue));
      } catch {
        // not ours
      }
    };
    addEventListener('storage', onStorage);
    return { close: () => removeEventListener('storage', onStorage) };
  }
  return undefined;
}

/** Tells every other tab of `namespace` on this origin. Best effort: never throws. */
export function postCrossTab(namespace: string | undefined, message: CrossTabMessage): void {
  const name = channelName(namespace);
  try {
    if (typeof BroadcastChannel === 'function') {
      const channel = new BroadcastChannel(name);
      channel.postMessage(message);
      channel.close();
      return;
    }
    const s = storage();
    // The random part makes every signal a change, so a repeated message still fires `storage`.
    s?.setItem(name, JSON.stringify({ ...message, n: Math.random() }));
    s?.removeItem(name);
  } catch {
    // Quota or a closed channel: the other tabs still wipe at their own idle or absolute expiry.
  }
}
