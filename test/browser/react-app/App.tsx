import { useEffect, useState, type ReactElement } from 'react';
import { defineSchema, type SealedRecord } from 'tokumei';
import { useIdleWarning, useRecord, useSession, useSessionStore } from 'tokumei/react';

const memberSchema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: 'identity' } });

/** Every status a page goes through, kept across reloads (the test reads it). */
function log(entry: string): void {
  sessionStorage.setItem('log', `${sessionStorage.getItem('log') ?? ''}${entry} `);
}

export function App(): ReactElement {
  const snapshot = useSession();
  const store = useSessionStore();
  const warning = useIdleWarning();
  const [sealed, setSealed] = useState<SealedRecord>();
  const [renders, setRenders] = useState(0);
  useEffect(() => log(snapshot.wipeReason === undefined ? snapshot.status : `${snapshot.status}:${snapshot.wipeReason}`), [snapshot]);
  useEffect(() => {
    void fetch('/api/record').then(async (r) => setSealed((await r.json()) as SealedRecord));
  }, []);
  // A storm of 50 re-renders at the start: every render makes new inline callbacks above.
  useEffect(() => {
    if (renders >= 50) return;
    const t = setTimeout(() => setRenders((n) => n + 1), 5);
    return () => clearTimeout(t);
  }, [renders]);
  const { status, record } = useRecord(memberSchema, sealed === undefined ? undefined : { ...sealed }, { recordId: 'M000001' });
  return (
    <main>
      <p>
        <span data-testid="status">{snapshot.status}</span> <span data-testid="wipe">{snapshot.wipeReason ?? ''}</span>{' '}
        <span data-testid="session">{snapshot.session?.sessionId ?? ''}</span> <span data-testid="renders">{renders}</span>
      </p>
      <p data-testid="record">{status}</p>
      <p data-testid="name">{status === 'ready' ? String(record!.fullName) : ''}</p>
      {warning !== undefined && (
        <button data-testid="stay" onClick={() => store.touch()}>
          Stay signed in
        </button>
      )}
      <button data-testid="sign-in" onClick={() => void store.open().catch(() => undefined)}>
        Sign in
      </button>
      <button data-testid="log-off" onClick={() => void store.logoff()}>
        Log off
      </button>
    </main>
  );
}
