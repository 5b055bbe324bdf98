/** A loopback TCP port that was free a moment ago: the bench's (one copy for both). */
export { freePort } from '../../bench/free-port.js';
