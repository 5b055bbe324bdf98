/** Receipts in SQLite: every webhook as received, deduplicated by its dedupe key. */
import type { NewReceipt, Receipt, ReceiptLog } from '../store.js';
import type { SqliteConnection } from './connection.js';
import type { Row } from './rows.js';
import { num, str } from './rows.js';

export function sqliteReceipts(conn: SqliteConnection): ReceiptLog {
  const d = conn.db;
  // A replay is found by the insert itself, through the UNIQUE index on (seq, dedupe_key) (migration 4: the dedupe
  // key holds the seq). Only that conflict is ignored: any other constraint still fails the insert.
  const insert = d.prepare(
    `INSERT INTO receipts (received_at, command, user_id, platform_id, seq, operation_id, dedupe_key, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (seq, dedupe_key) DO NOTHING`,
  );
  const setEffect = d.prepare('UPDATE receipts SET effect = ? WHERE id = ?');
  const forUser = d.prepare('SELECT * FROM receipts WHERE user_id = ? AND received_at >= ? ORDER BY received_at, id LIMIT ?');
  const count = d.prepare('SELECT count(*) FROM receipts').pluck();

  return {
    insertReceipt(r: NewReceipt): number | null {
      conn.wrote();
      const res = insert.run(r.receivedAt, r.command, r.userID, r.platformID, r.seq, r.operationID, r.dedupeKey, r.body);
      return res.changes === 0 ? null : Number(res.lastInsertRowid);
    },
    setReceiptEffect(id: number, effect: string): void {
      conn.wrote();
      setEffect.run(effect, id);
    },
    receiptsForUser(userID: string, since: number, limit: number): Receipt[] {
      return (forUser.all(userID, since, limit) as Row[]).map((r) => ({
        id: num(r.id),
        receivedAt: num(r.received_at),
        command: str(r.command),
        userID: str(r.user_id),
        platformID: num(r.platform_id),
        seq: num(r.seq),
        operationID: str(r.operation_id),
        dedupeKey: str(r.dedupe_key),
        body: str(r.body),
        effect: str(r.effect),
      }));
    },
    countReceipts(): number {
      return count.get() as number;
    },
  };
}
