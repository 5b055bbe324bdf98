/**
 * The secrets the daemon cannot run without, although a configuration without them loads: `run` refuses to start
 * without them, and `check-config` warns about them (refuses with `--strict`) with the same messages.
 */
import type { ConfigIssue } from '../errors.js';
import { envVarName } from './config-reference.js';
import type { Config } from './schema.js';

/**
 * Problems that stop the daemon from running although the configuration loads: the OpenIM secret and the webhook
 * path secret must be set (in the environment, a `*File` key, or the YAML file).
 */
export function requireSecrets(config: Config): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!config.openim.secret) {
    issues.push({
      path: 'openim.secret',
      value: undefined,
      message: `is required to run the daemon (OpenIM's share.yml secret): set ${envVarName('openim.secret')} or ${envVarName('openim.secretFile')}, or openim.secretFile in the YAML file`,
    });
  }
  if (!config.webhook.pathSecret) {
    issues.push({
      path: 'webhook.pathSecret',
      value: undefined,
      message: `is required to run the daemon (OpenIM posts to /<pathSecret>/<command>; 8-128 URL-safe characters, e.g. from \`openssl rand -hex 16\`): set ${envVarName('webhook.pathSecret')} or ${envVarName('webhook.pathSecretFile')}, or webhook.pathSecretFile in the YAML file`,
    });
  }
  return issues;
}
