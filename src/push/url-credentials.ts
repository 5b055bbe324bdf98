/**
 * Credentials written in a subscriber URL (`https://user:pass@host/…`): push delivery sends them as an
 * `Authorization: Basic` header, never as part of the URL, and masks the password wherever an error might repeat
 * it (docs/architecture.md, the event stream contract: push). The displayable form of a URL and the forms of its
 * password are `src/util/url-redaction.ts`'s.
 */
import { REDACTED } from '../config/redact.js';
import { urlPasswordForms } from '../util/url-redaction.js';

/**
 * Splits the credentials off a subscriber URL: the URL to request (without `user:pass@`) and, when it had any, the
 * `Authorization: Basic` header value that carries them (user and password percent-decoded, as a browser would).
 */
export function splitCredentials(url: string): { url: string; authorization: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, authorization: undefined };
  }
  if (u.username === '' && u.password === '') return { url, authorization: undefined };
  const pair = `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`;
  u.username = '';
  u.password = '';
  return { url: u.href, authorization: `Basic ${Buffer.from(pair, 'utf8').toString('base64')}` };
}

/** `text` with every occurrence of the password of `url` (raw and percent-decoded) replaced by `[REDACTED]`. */
export function scrubCredentials(text: string, url: string): string {
  let out = text;
  for (const form of urlPasswordForms(url)) out = out.split(form).join(REDACTED);
  return out;
}
