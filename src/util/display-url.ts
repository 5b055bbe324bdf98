/**
 * A URL as it may be shown in logs, errors and API answers: scheme, host and path only, so credentials
 * (`user:password@`) and the query string (which may carry tokens) never appear. Pure, for any part of the project.
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
