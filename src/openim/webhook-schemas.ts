import { z } from 'zod';

/** The three presence commands OpenIM's msggateway can send (docs/openim-contract.md, commands). */
export const WEBHOOK_COMMANDS = [
  'callbackAfterUserOnlineCommand',
  'callbackAfterUserOfflineCommand',
  'callbackAfterUserKickOffCommand',
] as const;
export type WebhookCommand = (typeof WEBHOOK_COMMANDS)[number];

export function isWebhookCommand(s: string): s is WebhookCommand {
  return (WEBHOOK_COMMANDS as readonly string[]).includes(s);
}

/** C0 controls, DEL and C1 controls. OpenIM's userIDs never carry them; a terminal would act on them. */
export const CONTROL_CHARACTER = /\p{Cc}/u;

const userID = z
  .string()
  .min(1, 'userID must be a non-empty string')
  .max(256, 'userID longer than 256 characters')
  .refine((s) => !CONTROL_CHARACTER.test(s), {
    error: (issue) => {
      const s = String(issue.input);
      const at = s.search(CONTROL_CHARACTER);
      const code = s.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0');
      return `userID must not contain control characters (U+0000-U+001F, U+007F-U+009F): U+${code} at index ${at}`;
    },
  });
const platformID = z.number().int('platformID must be an integer').min(0).max(1_000_000);
const seq = z.number().int('seq must be an integer (gateway clock in ms)').min(0);

/** Fields beyond these are ignored (a patched server may add some); the known ones are type-checked. */
export const onlineWebhookSchema = z.looseObject({
  callbackCommand: z.literal('callbackAfterUserOnlineCommand'),
  operationID: z.string().max(512).optional().default(''),
  platformID,
  platform: z.string().max(64).optional().default(''),
  userID,
  seq,
  isAppBackground: z.boolean().optional().default(false),
  connID: z.string().max(512).optional().default(''),
});

export const offlineWebhookSchema = z.looseObject({
  callbackCommand: z.literal('callbackAfterUserOfflineCommand'),
  operationID: z.string().max(512).optional().default(''),
  platformID,
  platform: z.string().max(64).optional().default(''),
  userID,
  seq,
  connID: z.string().max(512).optional().default(''),
});

export const kickOffWebhookSchema = z.looseObject({
  callbackCommand: z.literal('callbackAfterUserKickOffCommand'),
  operationID: z.string().max(512).optional().default(''),
  platformID,
  platform: z.string().max(64).optional().default(''),
  userID,
  seq,
});

export const WEBHOOK_SCHEMAS = {
  callbackAfterUserOnlineCommand: onlineWebhookSchema,
  callbackAfterUserOfflineCommand: offlineWebhookSchema,
  callbackAfterUserKickOffCommand: kickOffWebhookSchema,
} as const;

export type OnlineWebhook = z.infer<typeof onlineWebhookSchema>;
export type OfflineWebhook = z.infer<typeof offlineWebhookSchema>;
export type KickOffWebhook = z.infer<typeof kickOffWebhookSchema>;
export type PresenceWebhook = OnlineWebhook | OfflineWebhook | KickOffWebhook;

const optionalString = (v: unknown, max: number): v is string | undefined => v === undefined || (typeof v === 'string' && v.length <= max);
const isID = (v: unknown, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;

/**
 * The validation fast path: the webhook as its schema in WEBHOOK_SCHEMAS parses it (defaults filled in, unknown
 * fields kept), or undefined whenever the body is anything but plainly valid. It accepts a subset of what the schema
 * accepts, so a body it does not take is parsed by the schema, which gives the same result or the refusal and its
 * message; its answer for a body it takes is the schema's. `body` is the JSON object whose callbackCommand the
 * caller has already compared with `command`.
 */
export function parseWebhookFast(command: WebhookCommand, body: Record<string, unknown>): PresenceWebhook | undefined {
  const { userID: u, platformID: p, seq: q, operationID, platform } = body;
  if (typeof u !== 'string' || u.length === 0 || u.length > 256 || CONTROL_CHARACTER.test(u)) return undefined;
  if (!isID(p, 1_000_000) || !isID(q, Number.MAX_SAFE_INTEGER)) return undefined;
  if (!optionalString(operationID, 512) || !optionalString(platform, 64) || body.callbackCommand !== command) return undefined;
  // An own "__proto__" key (JSON.parse makes one) is left to the schema, which does not copy it.
  if (Object.hasOwn(body, '__proto__')) return undefined;
  if (command === 'callbackAfterUserKickOffCommand') {
    return { ...body, callbackCommand: command, operationID: operationID ?? '', platformID: p, platform: platform ?? '', userID: u, seq: q };
  }
  const connID = body.connID;
  if (!optionalString(connID, 512)) return undefined;
  if (command === 'callbackAfterUserOfflineCommand') {
    return { ...body, callbackCommand: command, operationID: operationID ?? '', platformID: p, platform: platform ?? '', userID: u, seq: q, connID: connID ?? '' };
  }
  const isAppBackground = body.isAppBackground;
  if (isAppBackground !== undefined && typeof isAppBackground !== 'boolean') return undefined;
  return {
    ...body,
    callbackCommand: command,
    operationID: operationID ?? '',
    platformID: p,
    platform: platform ?? '',
    userID: u,
    seq: q,
    isAppBackground: isAppBackground ?? false,
    connID: connID ?? '',
  };
}

/** The reply OpenIM expects from a webhook receiver (docs/openim-contract.md, the reply). */
export const WEBHOOK_SUCCESS_BODY = '{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}';

export function webhookErrorBody(errMsg: string, errCode = 1001): string {
  return JSON.stringify({ actionCode: 0, errCode, errMsg, errDlt: '', nextCode: 0 });
}
