// The delivery audit log: an append-only record of who was given which key ids, and when
// sessions ended. Public facts only, never a key.
import type { Sql } from '../database/sql.ts';

/** One audited event. */
export interface AuditEvent {
  /** ms since the epoch. */
  at: number;
  /**
   * `delivered` (a new session got a keyring), `resumed` (a live session's keyring was sealed
   * again, to a new ephemeral key), `extended` (a live session's expiry moved later: a token
   * refresh), `revoked` (a session ended: `reason` says why — `logoff` or another wipe reason
   * the browser gave, `session-limit`, or what an administrator gave).
   */
  kind: 'delivered' | 'resumed' | 'extended' | 'revoked';
  /** The member. */
  memberId: string;
  /** The session. */
  sessionId: string;
  /** The key ids delivered (deliveries and resumes only). */
  keyIds?: readonly string[];
  /** The session's absolute expiry (deliveries, resumes and extensions). */
  expiresAt?: number;
  /** The reason given (revocations only). */
  reason?: string;
}

/** An event as stored, with its place in the log. */
export interface AuditRecord extends AuditEvent {
  /** Increasing in the order the log received them (a database may skip numbers). */
  seq: number;
  keyIds: readonly string[];
}

/**
 * Where the key environment appends its audit events. `openDatabase` gives one over PostgreSQL
 * (append-only: the table refuses UPDATE, DELETE and TRUNCATE); {@link memoryDeliveryAudit}
 * serves tests.
 */
export interface DeliveryAuditLog {
  /** Appends one event; resolves after it is durable. */
  append(event: AuditEvent): Promise<void>;
  /** Up to `limit` events after `after` (a `seq`; from the start by default), oldest first. */
  read(options: { after?: number; limit: number }): Promise<AuditRecord[]>;
}

/**
 * An in-memory {@link DeliveryAuditLog} (tests).
 *
 * @returns an empty log
 * @example
 * ```ts
 * import { createKeyEnvironment, memoryDeliveryAudit } from 'tokumei/server';
 * const audit = memoryDeliveryAudit();
 * const env = createKeyEnvironment({ masterKey, store, authenticate, audit });
 * ```
 */
export function memoryDeliveryAudit(): DeliveryAuditLog {
  const events: AuditRecord[] = [];
  return {
    append(event) {
      events.push({ ...event, keyIds: [...(event.keyIds ?? [])], seq: events.length + 1 });
      return Promise.resolve();
    },
    read({ after = 0, limit }) {
      return Promise.resolve(events.slice(after, after + limit).map((e) => ({ ...e, keyIds: [...e.keyIds] })));
    },
  };
}

interface Row {
  seq: number | string | bigint;
  at: number | string | bigint;
  kind: AuditEvent['kind'];
  member_id: string;
  session_id: string;
  key_ids: string[];
  expires_at: number | string | bigint | null;
  reason: string | null;
}

/** The audit log over an open database (internal; see `openDatabase`). */
export function databaseDeliveryAudit(db: Sql): DeliveryAuditLog {
  return {
    async append(e) {
      await db.query('INSERT INTO tokumei.delivery_audit (at, kind, member_id, session_id, key_ids, expires_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
        e.at,
        e.kind,
        e.memberId,
        e.sessionId,
        [...(e.keyIds ?? [])],
        e.expiresAt ?? null,
        e.reason ?? null,
      ]);
    },
    async read({ after = 0, limit }) {
      const { rows } = await db.query<Row>('SELECT * FROM tokumei.delivery_audit WHERE seq > $1 ORDER BY seq LIMIT $2', [after, limit]);
      return rows.map((r) => ({
        seq: Number(r.seq),
        at: Number(r.at),
        kind: r.kind,
        memberId: r.member_id,
        keyIds: r.key_ids,
        sessionId: r.session_id,
        ...(r.expires_at === null ? {} : { expiresAt: Number(r.expires_at) }),
        ...(r.reason === null ? {} : { reason: r.reason }),
      }));
    },
  };
}
