/** What `--help` prints for one command: its usage line, what it does, and examples to copy. */
export interface CommandHelp {
  /** The usage line, without the program name: `hosts --dir D [--json]`. */
  readonly usage: string;
  /** What the command does, in a sentence or two. */
  readonly summary: string;
  /** Whole command lines, without the program name, that work as typed (given the named paths). */
  readonly examples: readonly string[];
}

/** Whether a command line asks for help: `--help` or `-h` anywhere before a `--`. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false;
    if (a === '--help' || a === '-h') return true;
  }
  return false;
}

/** One command's help text: usage, summary, examples, each line prefixed with the program name. */
export function formatCommandHelp(prog: string, help: CommandHelp): string {
  return [`usage: ${prog} ${help.usage}`, '', help.summary, '', help.examples.length > 1 ? 'examples:' : 'example:', ...help.examples.map((e) => `  ${prog} ${e}`)].join('\n');
}

/** The program's help: every command's usage line, then how to get one command's help. */
export function formatProgramHelp(prog: string, what: string, commands: Readonly<Record<string, CommandHelp | undefined>>, example: string): string {
  const names = Object.keys(commands);
  const usage = names.map((n) => `  ${prog} ${commands[n]?.usage ?? n}`);
  return [
    `usage: ${prog} COMMAND [flags]`,
    '',
    what,
    '',
    'commands:',
    ...usage,
    `  ${prog} --version`,
    '',
    `${prog} COMMAND --help prints a command's usage with an example, e.g.`,
    `  ${prog} ${example} --help`,
  ].join('\n');
}
