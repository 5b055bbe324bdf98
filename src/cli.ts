#!/usr/bin/env node
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { COMMANDS } from './cli/commands.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command()
  .name('openim-presence')
  .description('Reconciles OpenIM presence webhooks with the live status API into one corrected event stream.')
  .version(pkg.version)
  .showHelpAfterError();

for (const register of COMMANDS) register(program);

await program.parseAsync(process.argv);
