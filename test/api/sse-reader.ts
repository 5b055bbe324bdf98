/** A bare event stream reader for the tests: every message as parsed, with the response status and headers. */
import type { SseMessage } from '../../src/client/sse-parser.js';
import { SseParser } from '../../src/client/sse-parser.js';

export interface OpenStream {
  status: number;
  headers: Headers;
  /** Messages so far (events and heartbeats), in order. */
  messages: SseMessage[];
  /** The raw text so far. */
  text: () => string;
  /** Seqs of the event messages so far. */
  seqs: () => number[];
  /** Resolves when the server ends the stream (or it breaks). */
  ended: Promise<void>;
  close: () => void;
}

/** Opens `GET url` with `Accept: text/event-stream` (plus `headers`) and reads it in the background. */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<OpenStream> {
  const ctrl = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: ctrl.signal });
  const messages: SseMessage[] = [];
  let raw = '';
  const parser = new SseParser((m) => messages.push(m));
  const ended = (async () => {
    if (!res.body || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) return;
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        const text = decoder.decode(value, { stream: true });
        raw += text;
        parser.push(text);
      }
    } catch {
      // aborted or cut
    }
  })();
  return {
    status: res.status,
    headers: res.headers,
    messages,
    text: () => raw,
    seqs: () => messages.filter((m) => m.event === 'message').map((m) => (JSON.parse(m.data) as { seq: number }).seq),
    ended,
    close: () => ctrl.abort(),
  };
}
