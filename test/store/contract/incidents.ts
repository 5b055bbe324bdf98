/** The store contract for IncidentStore: every backend must pass it (run by ../store-contract.ts). */
import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/store/store.js';
import type { StoreFactory } from '../store-contract.js';
import { freshStoreEachTest } from './fresh-store.js';
import { T0, MIN, mismatch } from './fixtures.js';
import type { NewIncident } from '../../../src/incidents/incident.js';

export function incidentStoreContract(factory: StoreFactory): void {
  describe('IncidentStore', () => {
    let store: Store;
    freshStoreEachTest(factory, (fresh) => {
      store = fresh.store;
    });

    describe('incidents', () => {
      function incident(over: Partial<NewIncident> = {}): NewIncident {
        return {
          cause: 'webhook_loss',
          kind: 'missed_offline',
          platformID: 5,
          platform: 'Web',
          firstAt: T0,
          lastAt: T0,
          mismatches: 0,
          status: 'open',
          closedReason: null,
          closedAt: null,
          acknowledgedAt: null,
          note: '',
          updatedAt: T0,
          ...over,
        };
      }

      it('inserts, reads, updates and lists incidents newest first, by status and time', () => {
        const a = store.insertIncident(incident());
        const b = store.insertIncident(
          incident({
            cause: 'mass_disagreement',
            kind: 'suspect_poll',
            platformID: null,
            platform: '',
            firstAt: T0 + MIN,
            lastAt: T0 + MIN,
          }),
        );
        expect(store.getIncident(a)).toEqual({ id: a, ...incident() });
        store.updateIncident(a, {
          status: 'closed',
          closedReason: 'verified',
          closedAt: T0 + 2 * MIN,
          updatedAt: T0 + 2 * MIN,
        });
        expect(store.getIncident(a)).toMatchObject({
          status: 'closed',
          closedReason: 'verified',
          closedAt: T0 + 2 * MIN,
        });
        expect(store.getIncident(999)).toBeUndefined();
        expect(store.listIncidents({ limit: 10 }).map((i) => i.id)).toEqual([b, a]);
        expect(store.listIncidents({ statuses: ['open'], limit: 10 }).map((i) => i.id)).toEqual([b]);
        expect(store.listIncidents({ since: T0 + 1, limit: 10 }).map((i) => i.id)).toEqual([b]);
        expect(store.listIncidents({ beforeID: b, limit: 10 }).map((i) => i.id)).toEqual([a]);
        expect(store.incidentStatusCounts().sort((x, y) => x.status.localeCompare(y.status))).toEqual([
          { status: 'closed', count: 1 },
          { status: 'open', count: 1 },
        ]);
      });

      it('assigns mismatches once, counts them, moves lastAt, and lists them by incident', () => {
        const id = store.insertIncident(incident());
        const m1 = store.insertMismatch(mismatch({ userID: 'u1', detectedAt: T0 }));
        const m2 = store.insertMismatch(mismatch({ userID: 'u2', detectedAt: T0 + 3 * MIN }));
        const m3 = store.insertMismatch(mismatch({ userID: 'u2', kind: 'late_webhook', detectedAt: T0 + MIN }));
        expect(store.assignMismatches(id, [m1, m2, m3], T0 + 4 * MIN)).toBe(3);
        // Already assigned: not counted twice, not moved to another incident.
        const other = store.insertIncident(incident());
        expect(store.assignMismatches(other, [m1], T0 + 5 * MIN)).toBe(0);
        expect(store.getIncident(id)).toMatchObject({ mismatches: 3, lastAt: T0 + 3 * MIN, updatedAt: T0 + 4 * MIN });
        expect(store.getIncident(other)).toMatchObject({ mismatches: 0, lastAt: T0 });
        expect(store.listMismatches({ incidentID: id, limit: 10 }).map((m) => m.id)).toEqual([m3, m2, m1]);
        expect(store.listMismatches({ incidentID: other, limit: 10 })).toEqual([]);
        const loose = store.insertMismatch(mismatch({ userID: 'u3' }));
        expect(store.listMismatches({ incidentID: null, limit: 10 }).map((m) => m.id)).toEqual([loose]);
        expect(store.incidentKindCounts([id, other])).toEqual([
          { incidentID: id, kind: 'late_webhook', count: 1, users: 1 },
          { incidentID: id, kind: 'missed_offline', count: 2, users: 2 },
        ]);
        expect(store.incidentKeys(id).sort((a, b) => a.userID.localeCompare(b.userID))).toEqual([
          { userID: 'u1', platformID: 5, detectedAt: T0 },
          { userID: 'u2', platformID: 5, detectedAt: T0 + 3 * MIN },
        ]);
      });

      it('changes the status of an incident’s mismatches and counts open ones', () => {
        const id = store.insertIncident(incident());
        const open = store.insertMismatch(mismatch());
        const resolved = store.insertMismatch(mismatch({ status: 'resolved', note: 'seen' }));
        const outside = store.insertMismatch(mismatch());
        store.assignMismatches(id, [open, resolved], T0);
        expect(store.countMismatches('open', T0)).toBe(2);
        expect(store.setIncidentMismatchStatus(id, ['open'], 'acknowledged', 'incident acknowledged', T0 + MIN)).toBe(
          1,
        );
        expect(store.getMismatch(open)).toMatchObject({
          status: 'acknowledged',
          note: 'incident acknowledged',
          updatedAt: T0 + MIN,
        });
        expect(store.getMismatch(resolved)).toMatchObject({ status: 'resolved', note: 'seen' });
        expect(store.getMismatch(outside)).toMatchObject({ status: 'open' });
        expect(store.countMismatches('open', T0)).toBe(1);
        expect(store.countMismatches('open', T0 + 1)).toBe(0);
      });

      it('expires unreviewed mismatches and incidents, and prunes closed incidents', () => {
        const old = T0 - 20 * 86_400_000;
        const stale = store.insertIncident(incident({ firstAt: old, lastAt: old }));
        const fresh = store.insertIncident(incident());
        const closedLongAgo = store.insertIncident(
          incident({ status: 'closed', closedReason: 'verified', closedAt: old }),
        );
        const oldOpen = store.insertMismatch(mismatch({ detectedAt: old }));
        const oldAcked = store.insertMismatch(mismatch({ detectedAt: old, status: 'acknowledged' }));
        const newOpen = store.insertMismatch(mismatch({ detectedAt: T0 }));
        expect(store.expireUnreviewed(T0 - 86_400_000, T0, 'expired')).toEqual({ mismatches: 2, incidents: 1 });
        expect(store.getMismatch(oldOpen)).toMatchObject({ status: 'resolved', note: 'expired' });
        expect(store.getMismatch(oldAcked)).toMatchObject({ status: 'resolved' });
        expect(store.getMismatch(newOpen)).toMatchObject({ status: 'open' });
        expect(store.getIncident(stale)).toMatchObject({ status: 'closed', closedReason: 'expired', closedAt: T0 });
        expect(store.getIncident(fresh)).toMatchObject({ status: 'open' });
        expect(store.pruneIncidents(T0 - 86_400_000)).toBe(1);
        expect(store.getIncident(closedLongAgo)).toBeUndefined();
        expect(store.getIncident(stale)).toBeDefined();
      });
    });
  });
}
