/** Cuts `items` into arrays of at most `size`, lazily: only the page being filled is held. */
export function* pagesOf<T>(items: Iterable<T>, size: number): Generator<T[], void, undefined> {
  const n = Math.max(1, Math.floor(size));
  let page: T[] = [];
  for (const item of items) {
    page.push(item);
    if (page.length >= n) {
      yield page;
      page = [];
    }
  }
  if (page.length > 0) yield page;
}

/**
 * Runs `handle` on every page with at most `inFlight` pages handled at once, taking the next page only when a slot
 * frees up, so pages are produced as fast as they are consumed and never all at once. `handle` answers false to stop
 * taking new pages (those in flight still finish). The first error stops taking pages and is thrown once every page
 * in flight has finished.
 */
export async function pumpPages<T>(pages: Iterator<T>, inFlight: number, handle: (page: T) => Promise<boolean>): Promise<void> {
  let stopped = false;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!stopped) {
      try {
        const next = pages.next();
        if (next.done === true) {
          stopped = true;
          return;
        }
        if (!(await handle(next.value))) stopped = true;
      } catch (error) {
        failure ??= { error };
        stopped = true;
      }
    }
  };
  const lanes: Promise<void>[] = [];
  for (let i = 0; i < Math.max(1, Math.floor(inFlight)); i++) lanes.push(lane());
  await Promise.all(lanes);
  if (failure !== undefined) throw failure.error;
}

/** Lets the event loop run (I/O, timers) before the caller goes on: for long synchronous passes. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
