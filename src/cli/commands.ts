import type { Command } from 'commander';
import { registerCheckConfigCommand } from './check-config-command.js';
import { registerRunCommand } from './run-command.js';

/** Each CLI command lives in its own file and registers itself on the program. */
export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [
  registerRunCommand,
  registerCheckConfigCommand,
];
