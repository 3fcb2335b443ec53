// @ts-check
// The data environment: your API and database. It keeps the member's record sealed — identity
// fields are `tk1.` ciphertext — and never holds a key. The record is sealed once, at ingest, with
// the member's keyring lent by the key environment (in production a back-office job; here at
// start-up), and only the sealed copy is kept.
import { sealRecord } from 'tokumei/server';
import { memberSchema } from '../shared/schema.js';
import { MEMBER_ID } from './key-env.mjs';

/**
 * Seals the example's record and serves it at `/api/me`.
 * @param {import('tokumei/server').KeyEnvironment} keyEnvironment
 * @returns {Promise<{ handler: (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, next: () => void) => void }>}
 */
export async function startDataEnvironment(keyEnvironment) {
  const ring = await keyEnvironment.openKeyring(MEMBER_ID);
  let sealed;
  try {
    sealed = sealRecord(ring, memberSchema, { id: MEMBER_ID, fullName: '山田 太郎', birthDate: '1980-04-01' }, { recordId: MEMBER_ID });
  } finally {
    ring.destroy();
  }
  const body = JSON.stringify(sealed);
  return {
    handler(req, res, next) {
      // Your API authorizes this as it does any request (its own session or token): the body is
      // ciphertext, but it is still the member's record.
      if ((req.url ?? '').split('?')[0] === '/api/me' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
      } else next();
    },
  };
}
