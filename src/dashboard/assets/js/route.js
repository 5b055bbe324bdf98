// @ts-check
// The page's two views: the overview, and a user's timeline at `#/user/<userID>`.

/** @returns {'timeline' | 'overview'} */
export function currentView() {
  return location.hash.startsWith('#/user/') ? 'timeline' : 'overview';
}

/** The user whose timeline is shown, or `null` on the overview (or when the link does not decode). */
export function timelineUser() {
  if (currentView() !== 'timeline') return null;
  try {
    return decodeURIComponent(location.hash.slice('#/user/'.length));
  } catch {
    return null;
  }
}
