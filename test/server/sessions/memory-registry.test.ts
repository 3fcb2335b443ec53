// memorySessionRegistry keeps the SessionRegistry contract, and its lazy prune forgets what has
// expired (and nothing else).
import { describe, expect, it } from 'vitest';
import { memorySessionRegistry } from '../../../src/server/sessions/registry.ts';
import { sessionRegistryContract } from './registry-contract.ts';

sessionRegistryContract('memory (fresh per test)', () => memorySessionRegistry());
const shared = memorySessionRegistry();
sessionRegistryContract('memory (one shared)', () => shared);

describe('memorySessionRegistry prune', () => {
  it('drops expired sessions as new ones arrive, keeps live ones', async () => {
    const r = memorySessionRegistry();
    await r.add({ sessionId: 'old', memberId: 'M1', createdAt: 0, expiresAt: 10 });
    await r.add({ sessionId: 'live', memberId: 'M1', createdAt: 0, expiresAt: 1_000 });
    await r.add({ sessionId: 'new', memberId: 'M2', createdAt: 20, expiresAt: 1_000 });
    expect(await r.get('old')).toBeUndefined();
    expect(await r.get('live')).toBeDefined();
    expect(await r.get('new')).toBeDefined();
  });
});
