/**
 * BusRepliers: REPLIER(name) answered from the bus's own bind events, as
 * the daemon answers it (the replier bound to exactly that name, wildcards
 * being names of their own), until events are reported lost.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BusRepliers } from '../../src/limpet/repliers.js';

test('binds and unbinds, wildcards by the name bound, as REPLIER answers', () => {
  const r = new BusRepliers();
  assert.equal(r.replier('$.A.b'), 0, 'no replier yet');
  r.event({ isBind: true, binder: 4, name: '$.A.*' });
  assert.equal(r.replier('$.A.*'), 4);
  assert.equal(r.replier('$.A.b'), 0, 'REPLIER is exact: a wildcard replier is not asked for');
  r.event({ isBind: true, binder: 5, name: '$.A.b' });
  assert.equal(r.replier('$.A.b'), 5);
  r.event({ isBind: false, binder: 4, name: '$.A.b' });
  assert.equal(r.replier('$.A.b'), 5, 'an unbind by another Ksock leaves the replier');
  r.event({ isBind: false, binder: 5, name: '$.A.b' });
  assert.equal(r.replier('$.A.b'), 0);
  assert.equal(r.replier('$.A.*'), 4);
});

test('after $.KBUS.UnbindEventsLost only the daemon can say', () => {
  const r = new BusRepliers();
  r.event({ isBind: true, binder: 4, name: '$.A' });
  r.eventsLost();
  assert.equal(r.replier('$.A'), undefined);
  r.event({ isBind: true, binder: 6, name: '$.B' });
  assert.equal(r.replier('$.B'), undefined);
});
