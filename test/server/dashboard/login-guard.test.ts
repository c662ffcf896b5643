import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginGuard } from '../../../server/dashboard/login-guard.ts';
import { FakeClock } from '../../helpers/fake-clock.ts';

test('an address gets five free failures, then each wrong answer waits a doubling delay up to the cap', () => {
  const guard = new LoginGuard(new FakeClock());
  const delays = Array.from({ length: 11 }, () => guard.fail('10.0.0.1'));
  assert.deepEqual(delays, [0, 0, 0, 0, 0, 500, 1_000, 2_000, 4_000, 8_000, 8_000]);
});

test('failures from many addresses add up: past fifty overall, every address waits', () => {
  const guard = new LoginGuard(new FakeClock());
  for (let i = 0; i < 50; i++) assert.equal(guard.fail(`10.0.1.${i}`), 0);
  assert.equal(guard.fail('10.0.2.1'), 500, 'a fresh address is held once the total is past the free allowance');
});

test('a correct password clears its address, and failures are forgotten after the window', () => {
  const clock = new FakeClock();
  const guard = new LoginGuard(clock);
  for (let i = 0; i < 6; i++) guard.fail('a');
  guard.succeed('a');
  assert.equal(guard.fail('a'), 0);
  for (let i = 0; i < 6; i++) guard.fail('b');
  clock.advance(300_000);
  assert.equal(guard.fail('b'), 0);
});

test('password checks run one at a time, in arrival order', async () => {
  const guard = new LoginGuard(new FakeClock());
  let running = 0,
    most = 0;
  const order: number[] = [];
  const check = (i: number) =>
    guard.check(async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 5));
      order.push(i);
      running--;
      return i === 3;
    });
  const results = await Promise.all([0, 1, 2, 3, 4].map(check));
  assert.equal(most, 1);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  assert.deepEqual(results, [false, false, false, true, false]);
});
