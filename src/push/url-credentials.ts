/**
 * Credentials written in a subscriber URL (`https://user:pass@host/…`): push delivery sends them as an
 * `Authorization: Basic` header, never as part of the URL, and masks the password wherever an error might repeat
 * it (docs/architecture.md, the event stream contract: push). The displayable form of a URL and the forms of its
 * password are `src/util/url-redaction.ts`'s.
 */
import { REDACTED } from '../config/redact.js';
import { urlPasswordForms } from '../util/url-redaction.js';

const isHexDigit = (byte: number | undefined): boolean =>
  byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));

/**
 * The bytes of a percent-encoded URL component, decoded as the URL standard does (and browsers do for credentials):
 * each `%` followed by two hex digits is that byte, anything else (a `%` without them included) stands for itself.
 * Unlike `decodeURIComponent` it never throws: an invalid escape or bytes that are not UTF-8 are sent as written.
 */
export function percentDecodeBytes(component: string): Buffer {
  const input = Buffer.from(component, 'utf8');
  const out: number[] = [];
  for (let i = 0; i < input.length; i++) {
    const byte = input[i]!;
    if (byte === 0x25 && isHexDigit(input[i + 1]) && isHexDigit(input[i + 2])) {
      out.push(Number.parseInt(String.fromCharCode(input[i + 1]!, input[i + 2]!), 16));
      i += 2;
    } else {
      out.push(byte);
    }
  }
  return Buffer.from(out);
}

/**
 * Splits the credentials off a subscriber URL: the URL to request (without `user:pass@`) and, when it had any, the
 * `Authorization: Basic` header value that carries them (user and password percent-decoded, as a browser would).
 * Never throws: a string that is not a URL is returned as it is, without an Authorization header.
 */
export function splitCredentials(url: string): { url: string; authorization: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, authorization: undefined };
  }
  if (u.username === '' && u.password === '') return { url, authorization: undefined };
  const pair = Buffer.concat([percentDecodeBytes(u.username), Buffer.from(':'), percentDecodeBytes(u.password)]);
  u.username = '';
  u.password = '';
  return { url: u.href, authorization: `Basic ${pair.toString('base64')}` };
}

/** `text` with every occurrence of the password of `url` (raw and percent-decoded) replaced by `[REDACTED]`. */
export function scrubCredentials(text: string, url: string): string {
  let out = text;
  for (const form of urlPasswordForms(url)) out = out.split(form).join(REDACTED);
  return out;
}
