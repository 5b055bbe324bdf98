import { platformName } from '../openim/platforms.js';

/**
 * JSON text the way Go's encoding/json writes it: `<`, `>` and `&` become `\u003c`, `\u003e`, `\u0026`, and the
 * line/paragraph separators U+2028/U+2029 are escaped too (JSON.stringify leaves all of these raw).
 */
const GO_ESCAPES: Record<string, string> = {
  '<': '\\u003c',
  '>': '\\u003e',
  '&': '\\u0026',
  '\u2028': '\\u2028',
  '\u2029': '\\u2029',
};

/** Go's json.Marshal of a JSON-compatible value (object keys in insertion order). */
export function goJson(value: unknown): string {
  const json = JSON.stringify(value);
  return /[<>&\u2028\u2029]/.test(json) ? json.replace(/[<>&\u2028\u2029]/g, (c) => GO_ESCAPES[c] ?? c) : json;
}

export const ONLINE_COMMAND = 'callbackAfterUserOnlineCommand';
export const OFFLINE_COMMAND = 'callbackAfterUserOfflineCommand';
export type PresenceCommand = typeof ONLINE_COMMAND | typeof OFFLINE_COMMAND;

/**
 * The body of an `afterUserOnline` webhook: compact JSON in Go struct field order, ending in `\n` (docs/openim-contract.md, bodies).
 */
export function onlineWebhookBody(
  operationID: string,
  platformID: number,
  userID: string,
  seq: number,
  isAppBackground: boolean,
): string {
  return (
    `{"callbackCommand":"${ONLINE_COMMAND}","operationID":${goJson(operationID)},"platformID":${platformID},` +
    `"platform":${goJson(platformName(platformID))},"userID":${goJson(userID)},"seq":${seq},` +
    `"isAppBackground":${isAppBackground},"connID":""}\n`
  );
}

/** The body of an `afterUserOffline` webhook (no `isAppBackground`), same rules as {@link onlineWebhookBody}. */
export function offlineWebhookBody(operationID: string, platformID: number, userID: string, seq: number): string {
  return (
    `{"callbackCommand":"${OFFLINE_COMMAND}","operationID":${goJson(operationID)},"platformID":${platformID},` +
    `"platform":${goJson(platformName(platformID))},"userID":${goJson(userID)},"seq":${seq},"connID":""}\n`
  );
}
