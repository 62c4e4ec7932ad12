import { approvalsCommands } from './approvals.js';
import { auditCommands } from './audit.js';
import type { Command } from './command.js';
import { policyCommands } from './policy.js';
import { simulateCommands } from './simulate.js';
import { traceCommands } from './trace.js';

/** Every command, in the order the help lists them. */
export const COMMANDS: Command[] = [
  ...policyCommands,
  ...auditCommands,
  ...approvalsCommands,
  ...traceCommands,
  ...simulateCommands,
];
