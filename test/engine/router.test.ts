/**
 * The router on its own: which bindings hear a name and which replier wins
 * (Kbus.txt "Message names", "Listeners", "Repliers"), UNBIND's exact
 * lookup, REPLIER's exact-name answer, the bindings listing, and the route
 * cache following every change. Ksocks are plain strings here.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type Binding, nameMatches, Router } from './api.js';

type B = Binding<string>;

function bind(router: Router<string>, ksock: string, name: string, isReplier = false): B {
  const binding: B = { ksock, isReplier, name };
  router.add(binding);
  return binding;
}

/** The name the winning replier bound to for a message named `name`, if any. */
function replierName(router: Router<string>, name: string): string | undefined {
  return router.route(name).replier?.name;
}

/** The listener bindings that hear `name`, as "ksock name", sorted. */
function listeners(router: Router<string>, name: string): string[] {
  return router
    .route(name)
    .listeners.map((b) => `${b.ksock} ${b.name}`)
    .sort();
}

/** Every order of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

describe('Router: which replier wins', () => {
  // Kbus.txt "Repliers": "'$.Fred.Jim' is more specific than '$.Fred.%'
  // which in turn is more specific than '$.Fred.*'".
  test('exact beats % beats *, whatever order they were bound in', () => {
    for (const order of permutations(['$.Fred.Jim', '$.Fred.%', '$.Fred.*'])) {
      const router = new Router<string>();
      for (const name of order) bind(router, name, name, true);
      const what = `bound in the order ${order.join(', ')}`;
      assert.equal(replierName(router, '$.Fred.Jim'), '$.Fred.Jim', what);
      assert.equal(replierName(router, '$.Fred.Bob'), '$.Fred.%', what);
      assert.equal(replierName(router, '$.Fred.Bob.Jim'), '$.Fred.*', what);
      assert.equal(replierName(router, '$.Fred'), undefined, what);
    }
  });

  // Kbus.txt "Message names": a '*' name covers everything below it, so
  // '$.a.b.*' covers a subset of what '$.a.*' covers: it is more specific.
  test('a longer * beats a shorter one, whatever order they were bound in', () => {
    for (const order of permutations(['$.*', '$.a.*', '$.a.b.*'])) {
      const router = new Router<string>();
      for (const name of order) bind(router, name, name, true);
      const what = `bound in the order ${order.join(', ')}`;
      assert.equal(replierName(router, '$.a.b.c.d'), '$.a.b.*', what);
      assert.equal(replierName(router, '$.a.b.c'), '$.a.b.*', what);
      assert.equal(replierName(router, '$.a.b'), '$.a.*', what);
      assert.equal(replierName(router, '$.a'), '$.*', what);
      assert.equal(replierName(router, '$.x.y'), '$.*', what);
    }
  });

  // Kbus.txt "Repliers", the example with Repliers 1, 2 and 3.
  test('the Kbus.txt Sensors example', () => {
    const router = new Router<string>();
    bind(router, 'R1', '$.Sensors.*', true);
    bind(router, 'R2', '$.Sensors.%', true);
    bind(router, 'R3', '$.Sensors.Kitchen.Temperature', true);
    const winner = (name: string) => router.route(name).replier?.ksock;
    assert.equal(winner('$.Sensors.Kitchen.Temperature'), 'R3');
    assert.equal(winner('$.Sensors.Kitchen'), 'R2');
    assert.equal(winner('$.Sensors.LivingRoom'), 'R2');
    assert.equal(winner('$.Sensors.LivingRoom.Temperature'), 'R1');
  });

  // Kbus.txt "Repliers": a replier is a special sort of listener; the two
  // kinds of binding are kept apart.
  test('listener bindings are never the replier, and replier bindings are not listeners', () => {
    const router = new Router<string>();
    bind(router, 'L', '$.a.b');
    bind(router, 'R', '$.a.*', true);
    const route = router.route('$.a.b');
    assert.equal(route.replier?.ksock, 'R');
    assert.deepEqual(
      route.listeners.map((b) => b.ksock),
      ['L'],
    );
  });
});

describe('Router: which names a binding matches', () => {
  // Kbus.txt "Message names": "$.Sensors.%" includes "$.Sensors.Kitchen"
  // but not "$.Sensors.Kitchen.Toaster".
  test('% matches exactly one level below it', () => {
    const router = new Router<string>();
    bind(router, 'L', '$.Sensors.%');
    for (const name of ['$.Sensors.Kitchen', '$.Sensors.Bedroom', '$.Sensors.X']) {
      assert.deepEqual(listeners(router, name), ['L $.Sensors.%'], name);
    }
    for (const name of [
      '$.Sensors',
      '$.Sensors.Kitchen.Toaster',
      '$.SensorsX.a',
      '$.a.Sensors.b',
    ]) {
      assert.deepEqual(listeners(router, name), [], name);
    }
  });

  // Kbus.txt "Message names": "$.Sensors.*" includes all the names that
  // start with "$.Sensors.", at that level and below.
  test('* matches any depth below it, and nothing else', () => {
    const router = new Router<string>();
    bind(router, 'L', '$.Sensors.*');
    for (const name of ['$.Sensors.Kitchen', '$.Sensors.Kitchen.FireAlarm', '$.Sensors.a.b.c.d']) {
      assert.deepEqual(listeners(router, name), ['L $.Sensors.*'], name);
    }
    for (const name of ['$.Sensors', '$.SensorsX.Kitchen', '$.Other.Sensors.Kitchen']) {
      assert.deepEqual(listeners(router, name), [], name);
    }
  });

  // Kbus.txt "Listeners": a listener hears every message matching any of
  // its bindings, the same name more than once included.
  test('listeners come from every matching binding: exact, %, each *, and repeats', () => {
    const router = new Router<string>();
    bind(router, 'A', '$.a.b.c');
    bind(router, 'A', '$.a.b.c');
    bind(router, 'B', '$.a.b.%');
    bind(router, 'C', '$.*');
    bind(router, 'C', '$.a.*');
    bind(router, 'D', '$.a.b.*');
    bind(router, 'E', '$.a.%'); // one level too high
    bind(router, 'F', '$.a.b.c.*'); // only below the name
    bind(router, 'G', '$.a.b.d'); // a sibling
    assert.deepEqual(listeners(router, '$.a.b.c'), [
      'A $.a.b.c',
      'A $.a.b.c',
      'B $.a.b.%',
      'C $.*',
      'C $.a.*',
      'D $.a.b.*',
    ]);
  });
});

describe('Router: changes', () => {
  // Kbus.txt "Repliers": the wildcard replier is the default one; when the
  // more specific one unbinds, it gets the name back.
  test('removing a replier gives the name back to the one it displaced', () => {
    const router = new Router<string>();
    bind(router, 'R1', '$.a.*', true);
    assert.equal(replierName(router, '$.a.b'), '$.a.*');
    const percent = bind(router, 'R2', '$.a.%', true);
    assert.equal(replierName(router, '$.a.b'), '$.a.%');
    const exact = bind(router, 'R3', '$.a.b', true);
    assert.equal(replierName(router, '$.a.b'), '$.a.b');
    router.remove(exact);
    assert.equal(replierName(router, '$.a.b'), '$.a.%');
    router.remove(percent);
    assert.equal(replierName(router, '$.a.b'), '$.a.*');
  });

  test('adding and removing listeners changes routes already worked out', () => {
    const router = new Router<string>();
    assert.deepEqual(listeners(router, '$.a.b'), []);
    const star = bind(router, 'L', '$.a.*');
    assert.deepEqual(listeners(router, '$.a.b'), ['L $.a.*']);
    router.remove(star);
    assert.deepEqual(listeners(router, '$.a.b'), []);
  });

  test('a route worked out long ago, behind many other names, still follows a change', () => {
    const router = new Router<string>();
    assert.equal(replierName(router, '$.a.b'), undefined);
    // Enough other names to move it out of the newest routes kept (32768
    // of them) into the older ones, which a change must forget too.
    for (let i = 0; i < 40_000; i++) router.route(`$.n${i}`);
    bind(router, 'R', '$.a.b', true);
    assert.equal(replierName(router, '$.a.b'), '$.a.b');
  });

  test('removing a binding that is not there changes nothing', () => {
    const router = new Router<string>();
    const kept = bind(router, 'L', '$.a');
    router.remove({ ksock: 'L', isReplier: false, name: '$.a' });
    assert.equal(router.size, 1);
    assert.deepEqual(router.route('$.a').listeners, [kept]);
  });
});

describe('Router: lookups', () => {
  // Kbus.txt "Listeners": "The message name and flags used in an UNBIND
  // must match those in the corresponding BIND" -- wildcards included.
  test('find matches Ksock, kind and name exactly', () => {
    const router = new Router<string>();
    const listener = bind(router, 'A', '$.a.*');
    const replier = bind(router, 'A', '$.a.%', true);
    assert.equal(router.find('A', false, '$.a.*'), listener);
    assert.equal(router.find('A', true, '$.a.%'), replier);
    assert.equal(router.find('A', true, '$.a.*'), undefined, 'the other kind');
    assert.equal(router.find('B', false, '$.a.*'), undefined, 'another Ksock');
    assert.equal(router.find('A', false, '$.a.%'), undefined, 'another wildcard');
    assert.equal(router.find('A', false, '$.a.b'), undefined, 'a name the wildcard matches');
    assert.equal(router.find('A', false, '$.a'), undefined);
  });

  // kbus.c kbus_forget_binding searches its list newest first.
  test('find gives the newest of repeated bindings, so removing it leaves the older', () => {
    const router = new Router<string>();
    const older = bind(router, 'A', '$.a');
    const newer = bind(router, 'A', '$.a');
    assert.equal(router.find('A', false, '$.a'), newer);
    router.remove(newer);
    assert.equal(router.find('A', false, '$.a'), older);
    assert.equal(router.size, 1);
  });

  // Kbus.txt "/proc/kbus/bindings"; kbus.c lists the newest binding first.
  test('newestFirst lists every binding, newest first, without the removed ones', () => {
    const router = new Router<string>();
    const a = bind(router, 'A', '$.a');
    const b = bind(router, 'B', '$.b.*', true);
    const c = bind(router, 'C', '$.c.%');
    const d = bind(router, 'A', '$.a');
    assert.deepEqual(router.newestFirst(), [d, c, b, a]);
    router.remove(b);
    assert.deepEqual(router.newestFirst(), [d, c, a]);
    assert.equal(router.size, 3);
  });

  // protocol.md "Points ... settled": REPLIER matches the bound name
  // exactly (kbus.c), wildcards included.
  test('replierFor answers for exactly the bound name, wildcards included', () => {
    const router = new Router<string>();
    const star = bind(router, 'R', '$.a.*', true);
    bind(router, 'L', '$.a.b');
    assert.equal(router.replierFor('$.a.*'), star);
    assert.equal(router.replierFor('$.a.b'), undefined, 'covered by the wildcard, not bound');
    assert.equal(router.replierFor('$.a.%'), undefined);
    router.remove(star);
    assert.equal(router.replierFor('$.a.*'), undefined);
  });
});

// --- Against the reference definition -----------------------------------------

/** A small alphabet, so that names and bindings overlap often. */
const word = fc.constantFrom('a', 'b', 'c');
const plainName = fc.array(word, { minLength: 1, maxLength: 4 }).map((w) => `$.${w.join('.')}`);
const wildcard = fc
  .tuple(fc.array(word, { maxLength: 3 }), fc.constantFrom('*', '%'))
  .map(([w, last]) => `$.${[...w, last].join('.')}`);
const bindName = fc.oneof(plainName, wildcard);
const ksock = fc.constantFrom('A', 'B', 'C');

type Op =
  | { kind: 'add'; ksock: string; isReplier: boolean; name: string }
  | { kind: 'remove'; index: number }
  | { kind: 'route'; name: string }
  | { kind: 'find'; ksock: string; isReplier: boolean; name: string };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('add' as const), ksock, isReplier: fc.boolean(), name: bindName }),
  fc.record({ kind: fc.constant('remove' as const), index: fc.nat() }),
  fc.record({ kind: fc.constant('route' as const), name: plainName }),
  fc.record({ kind: fc.constant('find' as const), ksock, isReplier: fc.boolean(), name: bindName }),
);

/** Kbus.txt "Repliers": exact beats '%' beats '*'; between two '*' the longer wins. */
function specificity(binding: string): number {
  if (binding.endsWith('%')) return 2000;
  if (binding.endsWith('*')) return 1000 + binding.length;
  return 3000;
}

/** The route worked out by scanning every binding with nameMatches. */
function referenceRoute(bindings: readonly B[], name: string) {
  const matching = bindings.filter((b) => nameMatches(name, b.name));
  const repliers = matching.filter((b) => b.isReplier);
  repliers.sort((x, y) => specificity(y.name) - specificity(x.name));
  return { replier: repliers[0], listeners: matching.filter((b) => !b.isReplier) };
}

describe('Router: against a scan of every binding', () => {
  test('any bindings, added and removed in any order, route as the reference says', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const router = new Router<string>();
        const bindings: B[] = [];
        const order = (list: readonly B[]) =>
          list.map((b) => bindings.indexOf(b)).sort((x, y) => x - y);
        for (const o of ops) {
          if (o.kind === 'add') {
            // The device refuses a second replier for a name (EADDRINUSE).
            if (o.isReplier && bindings.some((b) => b.isReplier && b.name === o.name)) continue;
            bindings.push(bind(router, o.ksock, o.name, o.isReplier));
          } else if (o.kind === 'remove') {
            if (bindings.length === 0) continue;
            const [gone] = bindings.splice(o.index % bindings.length, 1);
            router.remove(gone!);
          } else if (o.kind === 'route') {
            const route = router.route(o.name);
            const expected = referenceRoute(bindings, o.name);
            assert.equal(route.replier, expected.replier, `replier for ${o.name}`);
            assert.deepEqual(order(route.listeners), order(expected.listeners), o.name);
          } else {
            const newest = [...bindings]
              .reverse()
              .find((b) => b.ksock === o.ksock && b.isReplier === o.isReplier && b.name === o.name);
            assert.equal(router.find(o.ksock, o.isReplier, o.name), newest);
            const replier = bindings.find((b) => b.isReplier && b.name === o.name);
            assert.equal(router.replierFor(o.name), replier);
          }
        }
        assert.equal(router.size, bindings.length);
        assert.deepEqual(router.newestFirst(), [...bindings].reverse());
      }),
      { numRuns: 300 },
    );
  });
});
