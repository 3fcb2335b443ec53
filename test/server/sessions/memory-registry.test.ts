// memorySessionRegistry keeps the SessionRegistry contract, and forgets what has expired (and
// nothing else) a bounded number of entries per call: memory follows what is still live, and no
// call pauses to sweep the whole registry.
import { describe, expect, it } from 'vitest';
import { memorySessionRegistry } from '../../../src/server/sessions/memory-registry.ts';
import { REVOKED_RETENTION_MS } from '../../../src/server/sessions/registry.ts';
import { session, sessionRegistryContract } from './registry-contract.ts';

sessionRegistryContract('memory (fresh per test)', () => memorySessionRegistry());
const shared = memorySessionRegistry();
sessionRegistryContract('memory (one shared)', () => shared);

describe('memorySessionRegistry forgetting', () => {
  it('drops expired sessions as new ones arrive, keeps live ones', async () => {
    const r = memorySessionRegistry();
    await r.add({ sessionId: 'old', memberId: 'M1', createdAt: 0, expiresAt: 10, primaryKeyId: 'k1.a' });
    await r.add({ sessionId: 'live', memberId: 'M1', createdAt: 0, expiresAt: 1_000, primaryKeyId: 'k1.a' });
    await r.add({ sessionId: 'new', memberId: 'M2', createdAt: 20, expiresAt: 1_000, primaryKeyId: 'k1.a' });
    expect(await r.get('old')).toBeUndefined();
    expect(await r.get('live')).toBeDefined();
    expect(await r.get('new')).toBeDefined();
  });

  it('drops expired sessions a bounded number per call, until none is left, whatever order they came in', async () => {
    const r = memorySessionRegistry();
    // A long-lived session first: a prune that only looked at the oldest entries would stop there.
    await r.add(session({ createdAt: 0, expiresAt: 1e9 }));
    const old = Array.from({ length: 5000 }, () => session({ createdAt: 0, expiresAt: 1000 }));
    for (const s of old) await r.add(s);
    await r.add(session({ createdAt: 2000, expiresAt: 10_000 }));
    let gone = 0;
    for (const s of old) if ((await r.get(s.sessionId)) === undefined) gone++;
    expect(gone).toBeGreaterThan(0);
    expect(gone).toBeLessThan(old.length); // one call did not sweep everything
    for (let i = 0; i < 200; i++) await r.add(session({ createdAt: 2000, expiresAt: 10_000 }));
    for (const s of old) expect(await r.get(s.sessionId)).toBeUndefined();
  });

  it('an extended session is not dropped at its first expiry', async () => {
    const r = memorySessionRegistry();
    const s = session({ createdAt: 0, expiresAt: 100 });
    await r.add(s);
    expect(await r.extend(s.sessionId, 5000, 50)).toBe(5000);
    for (let i = 0; i < 5; i++) await r.add(session({ createdAt: 200, expiresAt: 10_000 }));
    expect((await r.get(s.sessionId))?.expiresAt).toBe(5000);
  });

  it('keeps a revoked session for the retention time (status and rotation see it), then forgets it', async () => {
    const r = memorySessionRegistry();
    const s = session({ createdAt: 0, expiresAt: 100 * REVOKED_RETENTION_MS });
    await r.add(s);
    await r.revoke(s.sessionId, 'admin', 10);
    await r.add(session({ createdAt: REVOKED_RETENTION_MS, expiresAt: 100 * REVOKED_RETENTION_MS }));
    expect((await r.get(s.sessionId))!.revoked!.reason).toBe('admin');
    await r.add(session({ createdAt: REVOKED_RETENTION_MS + 11, expiresAt: 100 * REVOKED_RETENTION_MS }));
    expect(await r.get(s.sessionId)).toBeUndefined();
  });
});
