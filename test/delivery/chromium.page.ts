// The page of test/delivery/chromium.test.ts: signs in through httpKeyProvider (real HPKE key
// delivery from the key environment on the same origin), opens and seals records, logs off.
import { defineSchema, httpKeyProvider, openSession, TokumeiError, type Session, type SealedRecord } from '../../src/index.ts';

// fullName is searchable, so sealing derives the search subkey and the scan has it to find.
const schema = defineSchema({ name: 'member', version: 1, fields: { id: 'attribute', fullName: { kind: 'identity', search: 'exact' }, address: 'identity' } });

let session: Session | undefined;
const events: string[] = [];

const api = {
  async signIn(o: { kem: 'P-256' | 'X25519'; revocationCheckMs?: number }): Promise<{ sessionId: string; keyIds: number }> {
    session = await openSession({
      keyProvider: httpKeyProvider({ url: '/key-env/session', getToken: () => `sso-token~${Math.random()}`, kem: o.kem }),
      ...(o.revocationCheckMs === undefined ? {} : { revocationCheckMs: o.revocationCheckMs }),
    });
    session.on('wiped', ({ reason }) => events.push(reason));
    return { sessionId: session.sessionId, keyIds: 0 };
  },
  async open(sealed: SealedRecord, recordId: string): Promise<string> {
    return String((await session!.openRecord(schema, sealed, { recordId })).fullName);
  },
  /** Seals and opens `n` records with the delivered keys; returns how many round-tripped. */
  async work(n: number): Promise<number> {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      const rec = { id: `R${i}`, fullName: `山田 太郎 ${i}`, address: '東京都千代田区1-1' };
      // With a version: a record seal, so the seal subkey is live too (and scanned for).
      const sealed = await session!.sealRecord(schema, rec, { recordId: rec.id, version: i });
      if ((await session!.openRecord(schema, sealed, { recordId: rec.id })).fullName === rec.fullName) ok++;
    }
    return ok;
  },
  async logoff(): Promise<void> {
    await session!.logoff();
  },
  async probe(): Promise<string> {
    try {
      await session!.sealRecord(schema, { id: 'x', fullName: 'x', address: 'x' }, { recordId: 'x' });
      return 'ok';
    } catch (err) {
      return err instanceof TokumeiError ? err.code : String(err);
    }
  },
  events(): string[] {
    return [...events];
  },
};

export type DeliveryPageApi = typeof api;
(globalThis as unknown as { tkd: DeliveryPageApi }).tkd = api;
