import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { SERVER_HELP } from '../../../server/cli/help.ts';
import { type BuiltServer, builtServer } from '../../helpers/built-server.ts';
import { tempDir } from '../../helpers/temp.ts';

let tripwarden: BuiltServer['run'];
/** The commands `tripwarden --help` lists: the registry's, in its order. */
let commands: string[];
/** A real data dir the examples run against, in place of the examples' /var/lib/tripwarden. */
let dir: string;

before(() => {
  ({ run: tripwarden } = builtServer());
  const top = tripwarden(['--help']);
  assert.equal(top.code, 0, top.stderr);
  commands = [...top.stdout.matchAll(/^ {2}tripwarden ([a-z][a-z-]*)/gm)].map((m) => m[1]!);
  dir = `${tempDir()}/data`;
  assert.equal(tripwarden(['init', '--dir', dir]).code, 0);
});

test("tripwarden --help and -h list every command with its usage and say how to get one command's help, exit 0", () => {
  const top = tripwarden(['-h']);
  assert.equal(top.code, 0);
  assert.equal(top.stdout, tripwarden(['--help']).stdout);
  assert.match(top.stdout, /^usage: tripwarden COMMAND/);
  for (const c of ['init', 'serve', 'token', 'hosts', 'alarms', 'accept', 'server-cert']) assert.ok(commands.includes(c), `${c} listed`);
  assert.match(top.stdout, /tripwarden COMMAND --help prints/);
});

test('every command answers --help and -h with its usage and an example, exit 0, whatever else is on the line', () => {
  for (const name of commands) {
    assert.ok(SERVER_HELP[name], `${name} has an entry in server/cli/help.ts`);
    for (const args of [
      [name, '--help'],
      [name, '-h'],
      [name, '--dir', '/nonexistent', '--bogus', '--help'],
      ['help', name],
    ]) {
      const r = tripwarden(args);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.match(r.stdout, new RegExp(`^usage: tripwarden ${name} `), args.join(' '));
      assert.match(r.stdout, new RegExp(`^examples?:\\n {2}tripwarden ${name} `, 'm'), args.join(' '));
    }
  }
});

test('every example parses as typed: run against a real data dir, none is refused for its arguments', () => {
  for (const name of commands) {
    if (name === 'serve') continue; // runs until stopped; its flags are the ones test/scripts/build-server.test.ts starts it with
    for (const example of SERVER_HELP[name]!.examples) {
      const argv = example.split(' ').map((w) => (w === '/var/lib/tripwarden' ? dir : w));
      const r = tripwarden(argv);
      assert.doesNotMatch(r.stderr, /TW_ARGS/, example);
      assert.notEqual(r.code, 2, `${example}: ${r.stderr}`);
    }
  }
});

test('an unknown command or flag is one line naming it and --help, exit 2', () => {
  const cmd = tripwarden(['hostz', '--dir', dir]);
  assert.equal(cmd.code, 2);
  assert.equal(cmd.stdout, '');
  assert.match(cmd.stderr, /^tripwarden-server: error TW_ARGS: unknown command "hostz" \(`tripwarden --help` lists the commands\); [^\n]*\n$/);
  const flag = tripwarden(['hosts', '--dir', dir, '--jsn']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^tripwarden-server: error TW_ARGS: unknown flag --jsn \(usage: hosts --dir D \[--json\]\); [^\n]*`--help` after the command[^\n]*\n$/);
  const bare = tripwarden([]);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^[^\n]*no command \(`tripwarden --help` lists the commands\)[^\n]*\n$/);
});
