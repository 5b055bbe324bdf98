import type { Config } from './schema.js';

/**
 * The Fetch standard's "bad ports" (https://fetch.spec.whatwg.org/#bad-port): ports that browsers (Chromium answers
 * `net::ERR_UNSAFE_PORT`, Firefox and Safari refuse them too) and Node's own `fetch` never connect to over http(s),
 * to stop cross-protocol attacks on the services usually found there. A daemon listening on one of them works, but
 * its dashboard cannot be opened in a browser and the CLI (which uses `fetch`) cannot reach it.
 */
export const FETCH_BAD_PORTS: readonly number[] = Object.freeze([
  1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109, 110,
  111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532,
  540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061,
  6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

const BAD = new Set(FETCH_BAD_PORTS);

/** Whether browsers and Node's `fetch` refuse to connect to this port. */
export function isFetchBadPort(port: number): boolean {
  return BAD.has(port);
}

/** Why a port cannot be used, in one clause that names it (for error messages and warnings). */
export function badPortReason(port: number): string {
  return `port ${port} is on the Fetch standard's list of blocked ports: browsers (net::ERR_UNSAFE_PORT) and Node's fetch refuse to connect to it`;
}

/** The port an http(s) URL connects to (its explicit port, else 80 or 443); undefined for anything else. */
export function portOfUrl(url: string | URL): number | undefined {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  if (u.port !== '') return Number(u.port);
  return u.protocol === 'https:' ? 443 : 80;
}

/** The blocked port an http(s) URL would connect to, or undefined when the URL is usable (or not http). */
export function badPortOfUrl(url: string | URL): number | undefined {
  const port = portOfUrl(url);
  return port !== undefined && isFetchBadPort(port) ? port : undefined;
}

/** A configured port that browsers or fetch will refuse, as a check-config warning (`path`, the port, why it matters). */
export interface BlockedPortWarning {
  path: string;
  value: number;
  message: string;
}

/** The ports a configuration would have browsers or fetch refuse: the API, the webhook listener, push subscribers. */
export function blockedPortWarnings(config: Config): BlockedPortWarning[] {
  const warnings: BlockedPortWarning[] = [];
  if (isFetchBadPort(config.api.port)) {
    warnings.push({
      path: 'api.port',
      value: config.api.port,
      message: `${badPortReason(config.api.port)}, so the dashboard cannot be opened and report, user, mismatches, tail and subscribers cannot reach the daemon; pick another port`,
    });
  }
  const publicPort = config.webhook.publicUrl === undefined ? undefined : badPortOfUrl(config.webhook.publicUrl);
  if (publicPort !== undefined) {
    warnings.push({
      path: 'webhook.publicUrl',
      value: publicPort,
      message: `${badPortReason(publicPort)}; OpenIM can still post there, but doctor cannot check the listener; prefer another port`,
    });
  } else if (config.webhook.publicUrl === undefined && isFetchBadPort(config.webhook.port)) {
    warnings.push({
      path: 'webhook.port',
      value: config.webhook.port,
      message: `${badPortReason(config.webhook.port)}; OpenIM can still post there, but doctor cannot check the listener; prefer another port`,
    });
  }
  config.subscribers.forEach((s, i) => {
    const port = badPortOfUrl(s.url);
    if (port === undefined) return;
    warnings.push({
      path: `subscribers.${i}.url`,
      value: port,
      message: `${badPortReason(port)}, so no batch can ever be delivered to subscriber ${JSON.stringify(s.name)}; move the receiver to another port`,
    });
  });
  return warnings;
}
