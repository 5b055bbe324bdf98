/** OpenIM platform IDs and their exact names (contract §4). Unknown IDs map to `""`. */
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

export function platformName(platformID: number): string {
  return (PLATFORMS as Record<number, string>)[platformID] ?? '';
}
