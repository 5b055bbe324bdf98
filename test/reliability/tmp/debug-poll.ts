import { startSimPair, daemonOnlineKeys, truthKeys, diffKeys, eventually, FAST_RECONCILE } from '../../helpers/sim-pair.js';
const pair = await startSimPair({ users: 200, gateways: 2, seed: 20251128, speed: 4, loss: 1,
  workload: { onlineFraction: 0.2, connectRatePerSec: 4, sessionMeanMs: 20_000, multiDeviceProb: 0.3 } },
  { reconcile: { ...FAST_RECONCILE, massGuardMinUsers: 80 } });
await new Promise((r) => setTimeout(r, 15000));
pair.sim.pauseWorkload();
const ok = await eventually(() => diffKeys(daemonOnlineKeys(pair.daemon), truthKeys(pair.sim)).length === 0, 20000);
const d = diffKeys(daemonOnlineKeys(pair.daemon), truthKeys(pair.sim));
console.log('converged', ok, d);
for (const k of d.slice(0, 3)) {
  const [u, p] = k.slice(1).split(':');
  console.log(k, JSON.stringify(pair.daemon.engine.key(u!, Number(p))), JSON.stringify(pair.sim.view(u!)));
  console.log(pair.daemon.store.observationsForUser(u!, 0, 100).slice(-4));
  console.log(pair.daemon.store.mismatchesForUser(u!, 0, 100).map(m => [m.kind, m.status, m.platformID, m.evidence.map(e=>e.detail)]));
}
console.log(pair.daemon.poller?.status());
await pair.close();
