/** Where a command writes: injected so tests can capture it. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

// A reader that goes away (`| head`) must not crash a command with EPIPE.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

export const processIo: CommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};
