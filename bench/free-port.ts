import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback TCP port that was free a moment ago (for a server whose port must be known before it starts). The one
 * copy for the bench and the tests (test/helpers/free-port.ts re-exports it).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
