/**
 * The validation fast path (parseWebhookFast) against the schemas it stands in for: whatever it accepts, the schema
 * accepts with the very same result; what it declines goes to the schema, so refusals and their messages are the
 * schema's.
 */
import { describe, expect, it } from 'vitest';
import type { WebhookCommand } from '../../src/openim/webhook-schemas.js';
import { parseWebhookFast, WEBHOOK_COMMANDS, WEBHOOK_SCHEMAS } from '../../src/openim/webhook-schemas.js';

const base = (command: WebhookCommand): Record<string, unknown> => ({
  callbackCommand: command,
  operationID: 'op_1',
  platformID: 5,
  platform: 'Android',
  userID: 'u1',
  seq: 1_732_530_000_000,
  ...(command === 'callbackAfterUserOnlineCommand' ? { isAppBackground: false } : {}),
  ...(command !== 'callbackAfterUserKickOffCommand' ? { connID: '' } : {}),
});

const FIELD_VALUES: Record<string, unknown[]> = {
  userID: ['', 'a', 'a'.repeat(256), 'a'.repeat(257), 'ü€𝄞', '𝄞'.repeat(128), '𝄞'.repeat(129), 'a\u0000b', 'a\u007fb', 'a\u0085b', 'a b', 'a|b', 1, null, undefined],
  platformID: [0, 1, 11, 1_000_000, 1_000_001, -1, -0, 1.5, Number.MAX_SAFE_INTEGER, '5', null, undefined, true],
  seq: [0, -0, -1, 1.25, 2 ** 53 - 1, 2 ** 53, 1e300, '1', null, undefined],
  operationID: ['', 'x'.repeat(512), 'x'.repeat(513), 7, null, undefined],
  platform: ['', 'y'.repeat(64), 'y'.repeat(65), 3, null, undefined],
  connID: ['', 'c'.repeat(512), 'c'.repeat(513), 1, null, undefined],
  isAppBackground: [true, false, 'true', 0, null, undefined],
  callbackCommand: [...WEBHOOK_COMMANDS, 'other', null, undefined],
  extra: [undefined, 'kept', { nested: [1, 2] }, null],
};

function variants(command: WebhookCommand): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [base(command)];
  for (const [field, values] of Object.entries(FIELD_VALUES)) {
    for (const v of values) {
      const { [field]: _dropped, ...rest } = base(command);
      out.push(v === undefined ? rest : { ...rest, [field]: v });
    }
  }
  // Through JSON, as the listener receives them (drops undefined, keeps an own "__proto__" key).
  out.push(JSON.parse(`{"__proto__":{"polluted":true},"callbackCommand":"${command}","platformID":1,"userID":"u","seq":1}`) as Record<string, unknown>);
  out.push(JSON.parse(`{"callbackCommand":"${command}","platformID":1,"userID":"u","seq":1}`) as Record<string, unknown>);
  return out;
}

describe('the webhook validation fast path', () => {
  for (const command of WEBHOOK_COMMANDS) {
    it(`agrees with the ${command} schema on every body it accepts, and accepts plainly valid bodies`, () => {
      let accepted = 0;
      for (const body of variants(command)) {
        const fast = parseWebhookFast(command, body);
        const schema = WEBHOOK_SCHEMAS[command].safeParse(body);
        if (fast === undefined) continue;
        accepted++;
        expect(schema.success, JSON.stringify(body)).toBe(true);
        expect(fast).toStrictEqual(schema.data);
      }
      expect(accepted).toBeGreaterThan(30);
      expect(parseWebhookFast(command, base(command))).toBeDefined();
    });
  }

  it('declines a body whose callbackCommand is another command', () => {
    expect(parseWebhookFast('callbackAfterUserOnlineCommand', base('callbackAfterUserOfflineCommand'))).toBeUndefined();
  });
});
