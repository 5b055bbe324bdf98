/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): the signed content is `<id>.<timestamp>.<body>`,
 * the signature `v1,<base64 HMAC-SHA256>` keyed with the secret's bytes, the secret written `whsec_<base64>`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { OprError } from '../errors.js';

const SECRET_PREFIX = 'whsec_';

/** The key bytes of a `whsec_<base64>` secret (the prefix is optional), or what is wrong with it. */
function parseSigningSecret(secret: string): { key: Buffer } | { problem: string } {
  const b64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 === 1) {
    return { problem: 'must be "whsec_" followed by base64 (A-Z a-z 0-9 + / and = padding), e.g. whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' };
  }
  const key = Buffer.from(b64, 'base64');
  if (key.length < 16) return { problem: `must hold at least 16 bytes of key (24+ base64 characters), got ${key.length}` };
  return { key };
}

/**
 * What is wrong with a signing secret, or undefined when it is a valid `whsec_<base64>` secret. The configuration
 * schema checks `subscribers.*.secret` with it, so `check-config` refuses exactly what push delivery cannot use.
 */
export function signingSecretProblem(secret: string): string | undefined {
  const parsed = parseSigningSecret(secret);
  return 'problem' in parsed ? parsed.problem : undefined;
}

/** The key bytes of a `whsec_<base64>` secret (the prefix is optional); throws OPR_ERR_CONFIG_INVALID saying what is wrong. */
export function decodeSigningSecret(secret: string): Buffer {
  const parsed = parseSigningSecret(secret);
  if ('problem' in parsed) throw new OprError('OPR_ERR_CONFIG_INVALID', parsed.problem);
  return parsed.key;
}

/** A new random secret in the `whsec_` form (32 bytes). */
export function generateSigningSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}

/** `v1,<signature>` for one message. `timestamp` is in seconds since the epoch. */
export function signWebhook(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`, 'utf8').digest('base64')}`;
}

/** The three Standard Webhooks headers; without a key, the id and timestamp only. */
export function webhookHeaders(key: Buffer | undefined, id: string, timestamp: number, body: string): Record<string, string> {
  const headers: Record<string, string> = { 'webhook-id': id, 'webhook-timestamp': String(timestamp) };
  if (key) headers['webhook-signature'] = signWebhook(key, id, timestamp, body);
  return headers;
}
