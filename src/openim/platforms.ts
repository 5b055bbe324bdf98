/** OpenIM platform IDs and their exact names (docs/openim-contract.md, platform IDs). Unknown IDs map to `""`. */
export const PLATFORMS = {
  1: 'IOS',
  2: 'Android',
  3: 'Windows',
  4: 'OSX',
  5: 'Web',
  6: 'MiniWeb',
  7: 'Linux',
  8: 'APad',
  9: 'IPad',
  10: 'Admin',
  11: 'HarmonyOS',
} as const satisfies Record<number, string>;

export const PLATFORM_IDS = Object.keys(PLATFORMS).map(Number);

/**
 * The platformID under which webhook health (and its metric series) sums up every platform outside the known set:
 * health entries stay bounded whatever IDs the status API reports.
 */
export const OTHER_PLATFORM_ID = -1;

/** OpenIM's platform IDs plus a fork's own (`webhook.extraPlatforms`): the webhooks accepted, the health kept. */
export function knownPlatformIDs(extra: readonly number[] = []): ReadonlySet<number> {
  return new Set([...PLATFORM_IDS, ...extra]);
}

export function platformName(platformID: number): string {
  return (PLATFORMS as Record<number, string>)[platformID] ?? '';
}
