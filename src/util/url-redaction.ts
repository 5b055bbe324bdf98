/**
 * Keeping the credentials of URLs out of sight, in one place: the form of a URL that may be shown in logs, errors
 * and API answers, and the forms of a URL's password to mask wherever it might appear. Pure, for any part of the
 * project.
 */

export interface DisplayUrlOptions {
  /** Drop trailing slashes from the path (a base URL shown before the route appended to it). Default false. */
  trimTrailingSlash?: boolean;
}

/** `url` without credentials, query or fragment; `(invalid URL)` for a string that does not parse. */
export function displayUrl(url: string | URL, options: DisplayUrlOptions = {}): string {
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return '(invalid URL)';
  }
  const path = options.trimTrailingSlash === true ? u.pathname.replace(/\/+$/, '') : u.pathname;
  return `${u.protocol}//${u.host}${path}`;
}

/**
 * The password of `url` as written (percent-encoded) and percent-decoded, each once: the strings to mask in text
 * that may contain it. Empty when the URL has no password or does not parse; an invalid percent-encoding gives the
 * written form only.
 */
export function urlPasswordForms(url: string | URL): string[] {
  let password: string;
  try {
    password = (typeof url === 'string' ? new URL(url) : url).password;
  } catch {
    return [];
  }
  if (password === '') return [];
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // not valid percent-encoding: the written form is all there is
  }
  return decoded === password ? [password] : [password, decoded];
}
