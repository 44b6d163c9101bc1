// The bench splits a round trip into legs from the two parties' times; a
// wrong match would print plausible figures that mean nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LegLog } from '../../bench/fixtures/ipc.js';
import { addLegs, emptyLegs, legsText } from '../../bench/measure.js';

test('legs are matched by sequence number, whatever the order each side kept them in', () => {
  const requester = new LegLog();
  requester.add(7, 100.0, 100.1);
  requester.add(8, 200.0, 200.25);
  const responder = new LegLog();
  responder.add(8, 200.1, 200.11);
  responder.add(7, 100.04, 100.05);
  const legs = emptyLegs();
  addLegs(legs, requester.take(), responder.take());
  const us = (values: number[]) => values.map((v) => Math.round(v));
  // Round trip 7: 40 us there, 10 in the responder, 50 back; 8: 100, 10, 140.
  assert.deepEqual(us(legs.there), [40, 100]);
  assert.deepEqual(us(legs.within), [10, 10]);
  assert.deepEqual(us(legs.back), [50, 140]);
  assert.match(legsText(legs), /medians of 2\): to the responder 70 us, in it 10 us, back 95 us/);
});

test('a round trip only one side timed is left out', () => {
  const requester = new LegLog();
  requester.add(1, 10, 10.2);
  requester.add(2, 20, 20.2);
  const responder = new LegLog();
  responder.add(2, 20.1, 20.12);
  responder.add(3, 30.1, 30.12);
  const legs = emptyLegs();
  addLegs(legs, requester.take(), responder.take());
  assert.equal(legs.there.length, 1);
  assert.equal(Math.round(legs.back[0]!), 80);
});

test('take() hands over what was kept and starts again', () => {
  const log = new LegLog();
  log.add(1, 1, 2);
  assert.deepEqual(log.take(), { seqs: [1], startMs: [1], endMs: [2] });
  assert.deepEqual(log.take(), { seqs: [], startMs: [], endMs: [] });
});
