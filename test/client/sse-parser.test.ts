import { describe, expect, it } from 'vitest';
import type { SseMessage } from '../../src/client/sse-parser.js';
import { SseParser } from '../../src/client/sse-parser.js';

function parse(chunks: readonly string[]): { messages: SseMessage[]; retries: number[] } {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const p = new SseParser(
    (m) => messages.push(m),
    (ms) => retries.push(ms),
  );
  for (const c of chunks) p.push(c);
  return { messages, retries };
}

const STREAM = 'retry: 1000\n\n: a comment\n\nevent: heartbeat\nid: 4\ndata: {"head":9}\n\nid: 5\ndata: {"seq":5}\n\ndata: line one\ndata: line two\n\n';

describe('SseParser', () => {
  it('parses fields, comments, ids that persist, multi-line data and retry', () => {
    const { messages, retries } = parse([STREAM]);
    expect(retries).toEqual([1000]);
    expect(messages).toEqual([
      { event: 'heartbeat', data: '{"head":9}', id: '4' },
      { event: 'message', data: '{"seq":5}', id: '5' },
      { event: 'message', data: 'line one\nline two', id: '5' },
    ]);
  });

  it('gives the same messages whatever the chunking, with LF, CRLF or CR line ends', () => {
    const expected = parse([STREAM]).messages;
    for (const eol of ['\n', '\r\n', '\r']) {
      const text = `\uFEFF${STREAM.replace(/\n/g, eol)}`;
      for (const size of [1, 2, 3, 7, 64]) {
        const chunks: string[] = [];
        for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
        expect(parse(chunks).messages, `eol ${JSON.stringify(eol)} size ${size}`).toEqual(expected);
      }
    }
  });

  it('holds back a message until its blank line arrives, and ignores one without data', () => {
    const messages: SseMessage[] = [];
    const p = new SseParser((m) => messages.push(m));
    p.push('id: 7\ndata: {"seq":7}\n');
    expect(messages).toEqual([]);
    p.push('\nid: 8\n\n');
    expect(messages).toEqual([{ event: 'message', data: '{"seq":7}', id: '7' }]);
    expect(p.lastEventId).toBe('8');
    p.push('field-without-colon\ndata\n\n');
    expect(messages.at(-1)).toEqual({ event: 'message', data: '', id: '8' });
  });
});
