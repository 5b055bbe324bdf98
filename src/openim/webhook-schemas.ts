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

/** The reply OpenIM expects from a webhook receiver (docs/openim-contract.md, the reply). */
export const WEBHOOK_SUCCESS_BODY = '{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}';

export function webhookErrorBody(errMsg: string, errCode = 1001): string {
  return JSON.stringify({ actionCode: 0, errCode, errMsg, errDlt: '', nextCode: 0 });
}
