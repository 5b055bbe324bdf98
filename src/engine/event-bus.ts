import { EventEmitter } from 'node:events';
import type { Mismatch, PresenceEvent } from '../domain.js';

/**
 * The daemon's internal events, named `scope:verb`. Metrics, logs and the stream subscribe to these instead of
 * being called from inside the logic.
 */
export interface BusEvents {
  'events:committed': [events: PresenceEvent[]];
  'webhook:accepted': [info: { command: string; latencyMs: number; duplicate: boolean }];
  'webhook:rejected': [info: { command: string; reason: string; status: number }];
  'commit:batch': [info: { size: number; durationMs: number }];
  'poll:cycle': [info: { kind: 'cycle' | 'confirm'; durationMs: number; usersPolled: number; requests: number; errors: number; disagreements: number; corrections: number }];
  'poll:failed': [info: { error: Error }];
  'mismatch:recorded': [mismatch: Mismatch];
  'guard:raised': [info: { readOffline: number; believedOnline: number }];
}

export class EventBus {
  private readonly emitter = new EventEmitter({ captureRejections: false });

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof BusEvents>(name: K, fn: (...args: BusEvents[K]) => void): () => void {
    this.emitter.on(name, fn as (...args: unknown[]) => void);
    return () => this.emitter.off(name, fn as (...args: unknown[]) => void);
  }

  emit<K extends keyof BusEvents>(name: K, ...args: BusEvents[K]): void {
    this.emitter.emit(name, ...args);
  }
}
