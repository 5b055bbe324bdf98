import type { Command } from 'commander';
import { registerCheckConfigCommand } from './check-config-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerDoctorCommand } from './doctor-command.js';
import { registerIncidentsCommand } from './incidents-command.js';
import { registerMigrateCommand } from './migrate-command.js';
import { registerMismatchesCommand } from './mismatches-command.js';
import { registerReportCommand } from './report-command.js';
import { registerRunCommand } from './run-command.js';
import { registerSimulateCommand } from './simulate-command.js';
import { registerSubscribersCommand } from './subscribers-command.js';
import { registerTailCommand } from './tail-command.js';
import { registerUserCommand } from './user-command.js';

/** Each CLI command lives in its own file and registers itself on the program. */
export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [
  registerRunCommand,
  registerDemoCommand,
  registerCheckConfigCommand,
  registerReportCommand,
  registerUserCommand,
  registerMismatchesCommand,
  registerIncidentsCommand,
  registerDoctorCommand,
  registerSimulateCommand,
  registerTailCommand,
  registerSubscribersCommand,
  registerMigrateCommand,
];
