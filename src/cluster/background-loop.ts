/**
 * A loop that runs in the background until stopped, one step after another: a step that throws is logged and tried
 * again after the project's exponential backoff (util/backoff.ts), one that answers 'stop' ends the loop. `stop`
 * resolves once the step under way has finished. Used by the follower (reading the shared log) and the writer's
 * inbox consumer.
 */
import type { Logger } from 'pino';
import { backoffCeiling } from '../util/backoff.js';

export interface BackgroundLoopOptions {
  /** One step; throws to be retried after a backoff, answers 'stop' to end the loop. */
  step: () => Promise<'stop' | undefined>;
  /** What a step does, for the log: "<what> failed; retrying". */
  what: string;
  logger: Logger;
  /** Backoff after the first failure in a row, doubling up to `maxMs`. */
  baseMs: number;
  maxMs: number;
}

export class BackgroundLoop {
  private running: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly opts: BackgroundLoopOptions) {}

  start(): void {
    this.stopping = false;
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if ((await this.opts.step()) === 'stop') return;
        failures = 0;
      } catch (e) {
        if (this.stopping) return;
        failures++;
        this.opts.logger.warn({ err: { message: (e as Error).message } }, `${this.opts.what} failed; retrying`);
        await new Promise((r) => setTimeout(r, backoffCeiling(failures, this.opts.baseMs, this.opts.maxMs)));
      }
    }
  }
}
