// No dual-package hazard: `require('tokumei')` and `import('tokumei')` in one process are one
// implementation (the CommonJS entries re-export the ESM build), so a key, a keyring or an error
// made through one works with the other. Run in a child Node process against the built dist/,
// through the package's own `exports` (a package can import itself by name).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

/** Runs an ES module script in a fresh Node process at the repository root; returns its JSON output. */
function run(script: string): Record<string, unknown> {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out) as Record<string, unknown>;
}

const PRELUDE = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const schemaSpec = { name: 'member', version: 1, fields: { fullName: 'identity', department: 'attribute' } };
const record = { fullName: '山田 太郎', department: 'sales' };
`;

describe('one implementation behind require and import', () => {
  it('a key, a keyring and an error cross between require("tokumei") and import("tokumei")', () => {
    const result = run(`${PRELUDE}
      const cjs = require('tokumei');
      const esm = await import('tokumei');
      const cjsServer = require('tokumei/server');
      const esmServer = await import('tokumei/server');
      const out = {};
      // A key made through require, used by import's functions, and the other way round.
      const k1 = cjs.generateMemberKey();
      const schema = esm.defineSchema(schemaSpec);
      const sealed = esm.sealRecord(k1, schema, record, { recordId: 'r1' });
      out.cjsKeyEsmSeal = cjs.openRecord(k1, cjs.defineSchema(schemaSpec), sealed, { recordId: 'r1' }).fullName;
      const k2 = esm.generateMemberKey();
      out.esmKeyCjsSeal = esm.openRecord(k2, schema, cjs.sealRecord(k2, schema, record, { recordId: 'r2' }), { recordId: 'r2' }).fullName;
      out.keyInstanceof = k1 instanceof esm.MemberKey && k2 instanceof cjs.MemberKey;
      // A keyring made through require('tokumei/server') opens what import('tokumei') sealed.
      const ring = cjs.createKeyring([cjs.generateMemberKey({ keyId: 'k1.aaaaaaaaaaaaaaaaaaaaaa' })]);
      out.ringOpens = esm.openRecord(ring, schema, esm.sealRecord(ring, schema, record, { recordId: 'r3' }), { recordId: 'r3' }).fullName;
      // An error thrown by one copy is an instance of the other's TokumeiError.
      try { cjs.openRecord(k1, schema, sealed, { recordId: 'another record' }); } catch (e) {
        out.errorCode = e.code; out.errorInstanceof = e instanceof esm.TokumeiError && e instanceof esmServer.TokumeiError;
      }
      out.sameClasses = cjs.TokumeiError === esm.TokumeiError && cjsServer.MemberKey === esm.MemberKey && cjsServer.Keyring === esmServer.Keyring;
      out.sameNames = JSON.stringify(Object.keys(cjs).sort()) === JSON.stringify(Object.keys(esm).sort())
        && JSON.stringify(Object.keys(cjsServer).sort()) === JSON.stringify(Object.keys(esmServer).sort());
      k1.destroy(); k2.destroy(); ring.destroy();
      console.log(JSON.stringify(out));
    `);
    expect(result).toEqual({
      cjsKeyEsmSeal: '山田 太郎',
      esmKeyCjsSeal: '山田 太郎',
      keyInstanceof: true,
      ringOpens: '山田 太郎',
      errorCode: 'ERR_DECRYPTION_FAILED', // the value was sealed for another record id
      errorInstanceof: true,
      sameClasses: true,
      sameNames: true,
    });
  });

  it('positive control: two real copies of the library would be caught by the checks above', () => {
    // A second copy of the build in another folder (under node_modules, so its dependencies
    // resolve), standing in for the separate CommonJS build a dual package would ship.
    const copy = join(root, 'node_modules', '.tokumei-second-copy');
    rmSync(copy, { recursive: true, force: true });
    mkdirSync(copy, { recursive: true });
    for (const f of readdirSync(join(root, 'dist'))) if (f.endsWith('.js')) copyFileSync(join(root, 'dist', f), join(copy, f));
    try {
      const result = run(`${PRELUDE}
        const a = await import('tokumei');
        const b = await import(${JSON.stringify(pathToFileURL(join(copy, 'index.js')).href)});
        const out = {};
        const key = a.generateMemberKey();
        const schemaB = b.defineSchema(schemaSpec);
        try { b.sealRecord(key, schemaB, record, { recordId: 'r' }); out.crossKey = 'worked'; } catch (e) { out.crossKey = e.name; }
        try { b.sealRecord(b.generateMemberKey(), a.defineSchema(schemaSpec), record, { recordId: 'r' }); out.crossSchema = 'worked'; } catch (e) { out.crossSchema = e.name; }
        const keyB = b.generateMemberKey();
        const sealed = b.sealRecord(keyB, schemaB, record, { recordId: 'r' });
        try { b.openRecord(keyB, schemaB, sealed, { recordId: 'another record' }); } catch (e) { out.errorInstanceof = e instanceof a.TokumeiError; out.errorCode = e.code; }
        out.sameClasses = a.TokumeiError === b.TokumeiError;
        console.log(JSON.stringify(out));
      `);
      expect(result.sameClasses).toBe(false);
      expect(result.errorInstanceof).toBe(false);
      expect(result.crossKey).not.toBe('worked');
      expect(result.crossSchema).not.toBe('worked');
      expect(result.errorCode).toBe('ERR_DECRYPTION_FAILED'); // it did throw: only the class differs
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
