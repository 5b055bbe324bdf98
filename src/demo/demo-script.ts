/**
 * The demo's scripted episodes and what the dashboard says about them: which episode runs, since when, what to
 * watch for and when the next one starts. Pure apart from the clock it is given; `demo` drives the simulator.
 */

export const DEMO_EPISODES = ['lossy', 'gateway_crash', 'silent_webhooks'] as const;
export type DemoEpisodeName = (typeof DEMO_EPISODES)[number];

export interface DemoPlan {
  /** When the demo started (epoch ms). */
  startedAt: number;
  /** Milliseconds from the start to the gateway crash; the v3.8.1 switch follows after as long again. */
  episodeMs: number;
  users: number;
  loss: number;
  /** The crashed gateway's name as the simulator numbers it. */
  crashedGateway: string;
  guardHoldMs: number;
  healthWindowMinutes: number;
  /** The CLI commands that read this demo (printed at start, shown on the dashboard). */
  commands: { doctor: string; report: string; tail: string; incidents: string };
  /** The last time the mass-disagreement guard was raised, and over how many users (set as it happens). */
  lastGuard?: { at: number; readOffline: number };
}

export interface DemoEpisode {
  number: 1 | 2 | 3;
  name: DemoEpisodeName;
  title: string;
  /** What the operator should see happen during this episode. */
  watch: string;
  since: number;
}

export interface DemoStatus {
  episode: DemoEpisode;
  next: { number: number; title: string; at: number } | null;
  episodes: number;
  users: number;
  loss: number;
  commands: DemoPlan['commands'];
  /** The guard raised during the current episode, if it was: a page opened after it cleared still says so. */
  guardRaised: { at: number; readOffline: number } | null;
}

function episodes(p: DemoPlan): DemoEpisode[] {
  const pct = Math.round(p.loss * 100);
  return [
    {
      number: 1,
      name: 'lossy',
      title: `${pct} % of webhooks lost`,
      watch: `${pct} % of OpenIM's presence webhooks are lost: watch missed_online and missed_offline corrections appear, each within a poll interval and the confirm delay.`,
      since: p.startedAt,
    },
    {
      number: 2,
      name: 'gateway_crash',
      title: `gateway ${p.crashedGateway} crashed`,
      watch:
        `Its users vanished from OpenIM's live view without offline webhooks: the mass-disagreement guard raises a suspect_poll and holds ` +
        `for ${Math.round(p.guardHoldMs / 1000)} s (a slow gateway would come back), then corrects them offline as one incident.`,
      since: p.startedAt + p.episodeMs,
    },
    {
      number: 3,
      name: 'silent_webhooks',
      title: 'OpenIM behaves like v3.8.1: no presence webhooks',
      watch:
        `Every change is now learned by polling: webhook health turns silent once the last webhook has left the ` +
        `${p.healthWindowMinutes}-minute health window, naming v3.8.0/v3.8.1 as the likely cause.`,
      since: p.startedAt + 2 * p.episodeMs,
    },
  ];
}

/** The demo's state at `now`. */
export function demoStatus(p: DemoPlan, now: number): DemoStatus {
  const all = episodes(p);
  let i = 0;
  while (i + 1 < all.length && all[i + 1]!.since <= now) i++;
  const after = all[i + 1];
  return {
    episode: all[i]!,
    next: after ? { number: after.number, title: after.title, at: after.since } : null,
    episodes: all.length,
    users: p.users,
    loss: p.loss,
    commands: p.commands,
    guardRaised: p.lastGuard !== undefined && p.lastGuard.at >= all[i]!.since ? p.lastGuard : null,
  };
}

/** The JSON of /v1/demo: times as ISO-8601. */
export function demoStatusToJson(s: DemoStatus): Record<string, unknown> {
  return {
    episode: { ...s.episode, since: new Date(s.episode.since).toISOString() },
    next: s.next ? { ...s.next, at: new Date(s.next.at).toISOString() } : null,
    episodes: s.episodes,
    users: s.users,
    loss: s.loss,
    commands: s.commands,
    guardRaised: s.guardRaised ? { at: new Date(s.guardRaised.at).toISOString(), readOffline: s.guardRaised.readOffline } : null,
  };
}
