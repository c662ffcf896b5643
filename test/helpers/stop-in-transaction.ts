/**
 * Preloaded into a `serve` process (`node --import`) by the multi-instance suite: after SIGUSR2 the process
 * stops itself (SIGSTOP) right after its next `BEGIN IMMEDIATE`, so it is frozen holding the SQLite file's write
 * lock, as a stop that lands inside a transaction leaves it. Without SIGUSR2 it changes nothing.
 */
import Database from 'better-sqlite3';

let armed = false;
process.on('SIGUSR2', () => {
  armed = true;
});
const exec = Database.prototype.exec;
Database.prototype.exec = function (this: Database.Database, source: string) {
  const r = exec.call(this, source);
  if (armed && source === 'BEGIN IMMEDIATE') {
    armed = false;
    process.kill(process.pid, 'SIGSTOP');
  }
  return r;
};
