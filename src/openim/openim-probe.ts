/**
 * The probe behind `doctor` (docs/openim-contract.md, the status API): can openim-api be reached, does it give the
 * admin token, does the live view answer for the admin user with an admin token, and in which `status` form. Never
 * throws: every problem comes back as a sentence that says what to fix.
 */
import { performance } from 'node:perf_hooks';
import { MissingUsersError, OpenImApiError, OpenImTransportError } from '../errors.js';
import type { AdminTokenCache } from './admin-token-cache.js';
import type { OpenImApi, ProbeResult } from './types.js';

export interface ProbeDependencies {
  /** The user asked about: the admin user itself, who must be in the answer. */
  adminUserID: string;
  isClosed(): boolean;
  tokens: Pick<AdminTokenCache, 'cached' | 'current'>;
  getUsersOnlineStatus: OpenImApi['getUsersOnlineStatus'];
}

export async function probeOpenIm(dependencies: ProbeDependencies): Promise<ProbeResult> {
  const { adminUserID, tokens } = dependencies;
  const result: ProbeResult = {
    reachable: false,
    tokenObtained: false,
    adminConfirmed: false,
    statusForm: undefined,
    problems: [],
    latencyMs: undefined,
  };
  if (dependencies.isClosed()) {
    result.problems.push('the OpenIM client is closed; create a new one');
    return result;
  }
  const describeFailure = (error: unknown): void => {
    if (error instanceof OpenImTransportError && error.code === 'OPR_ERR_OPENIM_NETWORK') {
      result.problems.push(error.message);
      return;
    }
    // Any other answer, even a refusal, came from something listening at openim.apiUrl.
    if (error instanceof OpenImTransportError || error instanceof OpenImApiError) result.reachable = true;
    result.problems.push(error instanceof Error ? error.message : String(error));
  };
  try {
    const hadToken = tokens.cached() !== undefined;
    const started = performance.now();
    try {
      await tokens.current();
      result.tokenObtained = true;
      if (!hadToken) {
        result.reachable = true;
        result.latencyMs = performance.now() - started;
      }
    } catch (error) {
      describeFailure(error);
      return result;
    }
    const statusStarted = performance.now();
    const answer = await dependencies.getUsersOnlineStatus([adminUserID]);
    const failure = answer.failed[0];
    if (failure === undefined) {
      result.latencyMs = performance.now() - statusStarted;
      result.reachable = true;
      result.adminConfirmed = true;
      result.statusForm = answer.form;
      if (answer.form === 'string') {
        result.problems.push(
          'OpenIM answered `status` as "online"/"offline", which only v3.8.0 does, and v3.8.0 sends no presence webhooks: upgrade OpenIM to v3.8.2 or later (until then every change is learned by polling)',
        );
      }
    } else if (failure.error instanceof MissingUsersError) {
      result.reachable = true;
      result.adminConfirmed = true;
      result.problems.push(
        `${failure.error.message}: the server left out the admin user itself; is openim.apiUrl an OpenIM 3.8 openim-api?`,
      );
    } else {
      describeFailure(failure.error);
    }
  } catch (error) {
    describeFailure(error);
  }
  return result;
}
