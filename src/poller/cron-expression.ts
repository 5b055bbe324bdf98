/**
 * The node-cron expression (with a seconds field) that fires every `seconds`, evenly. Only intervals that divide a
 * minute, an hour or a day evenly can be expressed so; others return undefined.
 */
export function cronForInterval(seconds: number): string | undefined {
  if (!Number.isInteger(seconds) || seconds < 1) return undefined;
  if (seconds < 60) return 60 % seconds === 0 ? `*/${seconds} * * * * *` : undefined;
  if (seconds < 3600) {
    const m = seconds / 60;
    return Number.isInteger(m) && 60 % m === 0 ? `0 */${m} * * * *` : undefined;
  }
  const h = seconds / 3600;
  if (h === 24) return '0 0 0 * * *';
  return Number.isInteger(h) && 24 % h === 0 ? `0 0 */${h} * * *` : undefined;
}
