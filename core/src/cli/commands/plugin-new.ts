import type { CliCommand } from '../command.js';

// Placeholder until its issue lands; replaced by the owning module.
export const commands: CliCommand[] = [];
