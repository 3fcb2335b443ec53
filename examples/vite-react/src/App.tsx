import { useEffect, useState } from 'react';
import type { SealedRecord } from 'tokumei';
import { useIdleWarning, useRecord, useSession, useSessionStore } from 'tokumei/react';
import { memberSchema } from '../shared/schema.js';

/** The member's sealed record from the data environment (ciphertext: safe to fetch and keep). */
function useSealedRecord(signedIn: boolean): SealedRecord | undefined {
  const [sealed, setSealed] = useState<SealedRecord>();
  useEffect(() => {
    if (!signedIn) return;
    let live = true;
    void fetch('/api/me').then(async (res) => {
      if (live && res.ok) setSealed((await res.json()) as SealedRecord);
    });
    return () => {
      live = false;
    };
  }, [signedIn]);
  return sealed;
}

export function App() {
  const { status, wipeReason, error } = useSession();
  const store = useSessionStore();
  const warning = useIdleWarning();
  const sealed = useSealedRecord(status === 'open');
  // Opened in the browser with the member's key; dropped when the session ends.
  const me = useRecord(memberSchema, sealed, { recordId: 'M000001' });

  if (status !== 'open') {
    return (
      <main>
        <h1>Member portal</h1>
        {status === 'closed' && <p role="status">Signed out ({wipeReason}).</p>}
        {status === 'failed' && <p role="alert">Sign-in failed: {error instanceof Error ? error.message : String(error)}</p>}
        <button onClick={() => void store.open().catch(() => undefined)} disabled={status === 'opening'}>
          {status === 'opening' ? 'Signing in…' : 'Sign in'}
        </button>
      </main>
    );
  }
  return (
    <main>
      <h1>Member portal</h1>
      {me.status === 'ready' ? (
        <dl>
          <dt>Name</dt>
          <dd data-testid="full-name">{String(me.record!.fullName)}</dd>
          <dt>Birth date</dt>
          <dd data-testid="birth-date">{String(me.record!.birthDate)}</dd>
        </dl>
      ) : me.status === 'error' ? (
        <p role="alert">This record cannot be shown.</p>
      ) : (
        <p>Loading…</p>
      )}
      <button onClick={() => void store.logoff()}>Log off</button>
      {warning !== undefined && (
        <dialog open>
          <p>You will be signed out at {new Date(warning.idleDeadline).toLocaleTimeString()} unless you stay.</p>
          <button onClick={() => store.touch()}>Stay signed in</button>
        </dialog>
      )}
    </main>
  );
}
