import { describe, expect, it } from 'vitest';
import { describeHttpFailure, describeRequestFailure } from '../../src/push/delivery-failure.js';

describe('describeHttpFailure', () => {
  it('names the status, and says a redirect is not followed', () => {
    expect(describeHttpFailure(500)).toBe('HTTP 500');
    expect(describeHttpFailure(404)).toBe('HTTP 404');
    expect(describeHttpFailure(301)).toBe('HTTP 301 (redirects are not followed)');
    expect(describeHttpFailure(399)).toBe('HTTP 399 (redirects are not followed)');
    expect(describeHttpFailure(400)).toBe('HTTP 400');
  });
});

describe('describeRequestFailure', () => {
  it('reads a timeout or an abort as no answer within the timeout', () => {
    expect(describeRequestFailure(new DOMException('timed out', 'TimeoutError'), 750)).toBe('no answer within 750 ms');
    const aborted = new Error('aborted');
    aborted.name = 'AbortError';
    expect(describeRequestFailure(aborted, 5000)).toBe('no answer within 5000 ms');
  });

  it("names the network error's code, else its cause's message, else its own message", () => {
    expect(describeRequestFailure(new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }), 1)).toBe('network error ECONNREFUSED');
    expect(describeRequestFailure(new TypeError('fetch failed', { cause: new Error('other side closed') }), 1)).toBe('network error: other side closed');
    expect(describeRequestFailure(new TypeError('fetch failed'), 1)).toBe('network error: fetch failed');
    expect(describeRequestFailure('boom', 1)).toBe('network error: boom');
  });
});
