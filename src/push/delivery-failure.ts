/** How a failed push delivery reads in a subscriber's `lastError` and in the logs. */

/** An answer that is not 2xx; redirects are failures too (they are never followed). */
export function describeHttpFailure(status: number): string {
  return `HTTP ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`;
}

/** A request that got no answer: the timeout, or the network error's code (or message). */
export function describeRequestFailure(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return `network error ${cause.code}`;
  if (typeof cause?.message === 'string') return `network error: ${cause.message}`;
  return `network error: ${err instanceof Error ? err.message : String(err)}`;
}
