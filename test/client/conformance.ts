/**
 * The client conformance suite: the engine's behaviours (Kbus.txt), seen
 * through the client API, registered for one transport. embedded.test.ts
 * runs it over an in-process Engine, daemon.test.ts over a real kbusd.
 *
 * Each describe block starts its own bus (a fresh Engine, or a fresh kbusd
 * process) and stops it afterwards. Each test gets a fresh device
 * (NEWDEVICE), so that Ksock ids and message serial numbers start at 1 and
 * no binding or device setting leaks from one test to the next; every Ksock
 * a test opens is closed after it.
 *
 * No test sleeps: a test waits for what it expects with a bounded timeout,
 * and proves that something did not arrive with a later marker message (or,
 * on a Ksock that never streams, with the queue being empty once every send
 * has been answered, since each send is complete when its answer comes).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import {
  AbortError,
  Announcement,
  jsonData,
  type KbusMessage,
  type Ksock,
  type Mode,
  Reply,
  Request,
  Status,
  TimeoutError,
} from '../../src/client/index.js';
import {
  decodeMessage,
  type ErrnoName,
  encodeMessage,
  entireMessageLength,
  Flags,
  KbusError,
  type MessageId,
  MessageNames,
  makeMessage,
  Poll,
} from '../../src/wire/index.js';
import { within } from '../support/wait.js';

/** A running bus: a way to open Ksocks on it, and to stop it. */
export interface Bus {
  open(options: { device?: number; mode?: Mode; pid?: number }): Promise<Ksock>;
  stop(): Promise<void>;
}

/**
 * Starts a bus for a describe block. A factory may share one bus between
 * blocks (each test gets a fresh device anyway), except when `freshBus`
 * says the block needs a bus of its own.
 */
export type BusFactory = (need?: { freshBus: boolean }) => Promise<Bus>;

/** How long a test waits for something it expects to happen. */
const WAIT = 5000;
const TEST_OPTIONS = { timeout: 60_000 };
const HOOK_OPTIONS = { timeout: 30_000 };

const BINDINGS_HEADER =
  '# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener> for <message-name>\n';

// --- Helpers -----------------------------------------------------------------------

/** Asserts that `promise` rejects with a KbusError whose `.code` is `code`. */
async function rejectsWith(promise: Promise<unknown>, code: ErrnoName, what = ''): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof KbusError, `${what}: expected a KbusError, got ${String(err)}`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    return true;
  });
}

/** Asserts that `promise` rejects with the client's TimeoutError (code KBUS_TIMEOUT). */
async function rejectsWithTimeout(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TimeoutError, String(err));
    assert.equal(err.code, 'KBUS_TIMEOUT');
    return true;
  });
}

/** Asserts that `promise` rejects with an AbortError (code KBUS_ABORTED) caused by `reason`. */
async function rejectsWithAbort(promise: Promise<unknown>, reason: unknown): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AbortError, String(err));
    assert.equal(err.code, 'KBUS_ABORTED');
    assert.equal(err.cause, reason);
    return true;
  });
}

/** The next message, streamed (bounded wait). */
function recv(k: Ksock): Promise<KbusMessage> {
  return k.receive({ timeout: WAIT });
}

/** The next queued message, popped without streaming (NEXTREAD); fails if there is none. */
async function nextOf(k: Ksock): Promise<KbusMessage> {
  const m = await k.next();
  assert.ok(m !== undefined, `Ksock ${k.id} has no message queued`);
  return m;
}

/** Pops every queued message (NEXTREAD until there is none). */
async function drain(k: Ksock): Promise<KbusMessage[]> {
  const out: KbusMessage[] = [];
  for (let m = await k.next(); m !== undefined; m = await k.next()) out.push(m);
  return out;
}

function id(networkId: number, serialNum: number): MessageId {
  return { networkId, serialNum };
}

function plainId(m: MessageId): MessageId {
  return { networkId: m.networkId, serialNum: m.serialNum };
}

/** A well-formed one-word name of exactly `length` characters. */
function nameOfLength(length: number): string {
  return `$.${'x'.repeat(length - 2)}`;
}

const REQUEST = Flags.WANT_A_REPLY;

/** One test's world: a fresh device on the bus, and the Ksocks it opened. */
class World {
  private readonly opened: Ksock[] = [];

  constructor(
    private readonly bus: Bus,
    readonly device: number,
  ) {}

  static async create(bus: Bus, fresh: boolean): Promise<World> {
    if (!fresh) return new World(bus, 0);
    const control = await bus.open({ device: 0 });
    try {
      return new World(bus, await control.newDevice());
    } finally {
      await control.close();
    }
  }

  /** Opens a Ksock on this test's device (or another). */
  async open(mode: Mode = 'rw', options: { device?: number; pid?: number } = {}): Promise<Ksock> {
    const k = await this.bus.open({
      device: options.device ?? this.device,
      mode,
      pid: options.pid,
    });
    this.opened.push(k);
    return k;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.opened.splice(0).map((k) => k.close()));
  }
}

/**
 * Registers the whole suite for one transport. `label` names it in the
 * test output; `start` makes a fresh bus for each describe block.
 */
export function conformance(label: string, start: BusFactory): void {
  /** A describe block with its own bus, and a fresh device (World) for each test. */
  function section(
    title: string,
    body: (it: (name: string, cite: string, fn: (w: World) => Promise<void>) => void) => void,
    options: { freshDevice?: boolean } = {},
  ): void {
    describe(`${label}: ${title}`, () => {
      let bus: Bus | undefined;
      let world: World | undefined;
      // Over the embedded transport no socket holds the event loop open: this
      // timer does, so that a test stuck waiting fails by its own timeout
      // instead of being cancelled with the rest of the file. (That the
      // client's own timeouts keep the process alive is tested on its own,
      // in embedded.test.ts.)
      let keepAlive: ReturnType<typeof setInterval> | undefined;
      before(async () => {
        bus = await start({ freshBus: options.freshDevice === false });
      }, HOOK_OPTIONS);
      after(async () => {
        await bus?.stop();
      }, HOOK_OPTIONS);
      beforeEach(async () => {
        keepAlive = setInterval(() => {}, 60_000);
        world = await World.create(bus!, options.freshDevice ?? true);
      }, HOOK_OPTIONS);
      afterEach(async () => {
        try {
          await world?.cleanup();
        } finally {
          world = undefined;
          clearInterval(keepAlive);
        }
      }, HOOK_OPTIONS);
      body((name, cite, fn) => {
        test(`${name} [Kbus.txt ${cite}]`, TEST_OPTIONS, () => fn(world!));
      });
    });
  }

  // --- Names ---------------------------------------------------------------------

  section('message names and wildcards', (it) => {
    const MALFORMED = [
      'Fred',
      '$',
      '$.',
      '$a.b',
      '$.a.',
      '$..a',
      '$.a b',
      '$.a-b',
      '$.a.*.b',
      '$.%.a',
      '$.a*',
      '$.a.**',
    ];

    it(
      'malformed names are EBADMSG for bind, unbind and send',
      '"Message names", "Error numbers" EBADMSG',
      async (w) => {
        const k = await w.open();
        for (const name of MALFORMED) {
          await rejectsWith(k.bind(name), 'EBADMSG', `bind ${name}`);
          await rejectsWith(k.bind(name, { replier: true }), 'EBADMSG', `bind replier ${name}`);
          await rejectsWith(k.unbind(name), 'EBADMSG', `unbind ${name}`);
          await rejectsWith(k.announce(name), 'EBADMSG', `send ${name}`);
        }
        // The Ksock is still usable after all those errors.
        await k.bind('$.Fine');
        await k.announce('$.Fine', 'ok');
        assert.equal((await nextOf(k)).text(), 'ok');
      },
    );

    it('well-formed names and wildcards can be bound', '"Message names"', async (w) => {
      const k = await w.open();
      for (const name of [
        '$.a',
        '$.Sensors.Kitchen.Temperature',
        '$.abc123.X9',
        '$.*',
        '$.%',
        '$.Sensors.*',
        '$.Sensors.%',
      ]) {
        await k.bind(name);
      }
    });

    it('sending to a wildcard name is EBADMSG', '"Senders", "Error numbers" EBADMSG', async (w) => {
      const k = await w.open();
      for (const name of ['$.*', '$.%', '$.Sensors.*', '$.Sensors.%']) {
        await rejectsWith(k.announce(name), 'EBADMSG', name);
        await rejectsWith(k.send({ name, flags: REQUEST }), 'EBADMSG', `request ${name}`);
      }
    });

    it(
      'names over 1000 characters are ENAMETOOLONG; 1000 is allowed',
      '"Limits", "Error numbers" ENAMETOOLONG',
      async (w) => {
        const k = await w.open();
        const tooLong = nameOfLength(1001);
        await rejectsWith(k.bind(tooLong), 'ENAMETOOLONG', 'bind');
        await rejectsWith(k.bind(tooLong, { replier: true }), 'ENAMETOOLONG', 'bind replier');
        await rejectsWith(k.unbind(tooLong), 'ENAMETOOLONG', 'unbind');
        await rejectsWith(k.announce(tooLong), 'ENAMETOOLONG', 'send');
        const longest = nameOfLength(1000);
        await k.bind(longest);
        await k.announce(longest, 'long');
        const got = await nextOf(k);
        assert.equal(got.name, longest);
        assert.equal(got.text(), 'long');
        await k.unbind(longest);
      },
    );

    it(
      "'*' matches every name below it at any depth; '%' only one level below",
      '"Message names"',
      async (w) => {
        const star = await w.open('r');
        const percent = await w.open('r');
        const exact = await w.open('r');
        const sender = await w.open();
        await star.bind('$.Sensors.*');
        await percent.bind('$.Sensors.%');
        await exact.bind('$.Sensors.Kitchen');
        for (const name of [
          '$.Sensors.Kitchen',
          '$.Sensors.Kitchen.Toaster',
          '$.Sensors',
          '$.Other',
          '$.SensorsX.Kitchen',
        ]) {
          await sender.announce(name);
        }
        for (const k of [star, percent, exact]) await k.bind('$.Marker');
        await sender.announce('$.Marker');
        const names = async (k: Ksock) => (await drain(k)).map((m) => m.name);
        assert.deepEqual(await names(star), [
          '$.Sensors.Kitchen',
          '$.Sensors.Kitchen.Toaster',
          '$.Marker',
        ]);
        assert.deepEqual(await names(percent), ['$.Sensors.Kitchen', '$.Marker']);
        assert.deepEqual(await names(exact), ['$.Sensors.Kitchen', '$.Marker']);
      },
    );

    it('case is significant in names', '"Message names"', async (w) => {
      const k = await w.open();
      await k.bind('$.Fred');
      await k.announce('$.fred');
      await k.announce('$.FRED');
      await k.announce('$.Fred');
      assert.deepEqual(
        (await drain(k)).map((m) => m.name),
        ['$.Fred'],
      );
    });
  });

  // --- Listeners and repliers --------------------------------------------------------

  section('listeners and repliers', (it) => {
    it(
      'every listener gets a copy; duplicate and overlapping bindings give one copy each',
      '"Listeners", "Receiving messages once only"',
      async (w) => {
        const twice = await w.open('r');
        const once = await w.open('r');
        const sender = await w.open();
        await twice.bind('$.A');
        await twice.bind('$.A');
        await twice.bind('$.*');
        await once.bind('$.A');
        await sender.bind('$.A');
        const sent = await sender.announce('$.A', 'hello');
        for (const [k, copies] of [
          [twice, 3],
          [once, 1],
          [sender, 1],
        ] as const) {
          const got = await drain(k);
          assert.equal(got.length, copies, `Ksock ${k.id}`);
          for (const m of got) {
            assert.ok(m instanceof Announcement);
            assert.deepEqual(plainId(m.id), plainId(sent));
            assert.equal(m.text(), 'hello');
          }
        }
      },
    );

    it(
      'an announcement nobody listens to is dropped and the send succeeds',
      '"Senders"',
      async (w) => {
        const sender = await w.open();
        const sent = await sender.announce('$.Nobody');
        assert.deepEqual(plainId(sent), id(0, 1));
        assert.deepEqual(plainId(await sender.lastSent()), id(0, 1));
      },
    );

    it(
      'a second replier for a name is EADDRINUSE; listeners do not count',
      '"Repliers", "Error numbers" EADDRINUSE',
      async (w) => {
        const r1 = await w.open();
        const r2 = await w.open();
        await r1.bind('$.Q', { replier: true });
        await rejectsWith(r2.bind('$.Q', { replier: true }), 'EADDRINUSE', 'other Ksock');
        await rejectsWith(r1.bind('$.Q', { replier: true }), 'EADDRINUSE', 'same Ksock');
        await r2.bind('$.Q');
        await r1.bind('$.Q');
        await r1.bind('$.W.*', { replier: true });
        await rejectsWith(r2.bind('$.W.*', { replier: true }), 'EADDRINUSE', 'wildcard');
        await r2.bind('$.W.%', { replier: true });
        // Once the replier has gone, another Ksock may take its place.
        await r1.unbind('$.Q', { replier: true });
        await r2.bind('$.Q', { replier: true });
        assert.equal(await r1.replier('$.Q'), r2.id);
      },
    );

    it('the most specific replier wins: name, then %, then *', '"Repliers"', async (w) => {
      const r1 = await w.open();
      const r2 = await w.open();
      const r3 = await w.open();
      const sender = await w.open();
      await r1.bind('$.Sensors.*', { replier: true });
      await r2.bind('$.Sensors.%', { replier: true });
      await r3.bind('$.Sensors.Kitchen.Temperature', { replier: true });
      for (const name of [
        '$.Sensors.Kitchen.Temperature',
        '$.Sensors.Kitchen',
        '$.Sensors.LivingRoom',
        '$.Sensors.LivingRoom.Temperature',
      ]) {
        await sender.send({ name, flags: REQUEST });
      }
      for (const r of [r1, r2, r3]) await r.bind('$.Marker');
      await sender.announce('$.Marker');
      const names = async (k: Ksock) => (await drain(k)).map((m) => m.name);
      assert.deepEqual(await names(r3), ['$.Sensors.Kitchen.Temperature', '$.Marker']);
      assert.deepEqual(await names(r2), ['$.Sensors.Kitchen', '$.Sensors.LivingRoom', '$.Marker']);
      assert.deepEqual(await names(r1), ['$.Sensors.LivingRoom.Temperature', '$.Marker']);
    });

    it('a replier gets requests only, not announcements', '"Repliers"', async (w) => {
      const r = await w.open();
      const sender = await w.open();
      await r.bind('$.Q', { replier: true });
      await sender.announce('$.Q', 'announcement');
      await sender.send({ name: '$.Q', data: new TextEncoder().encode('request'), flags: REQUEST });
      const got = await drain(r);
      assert.deepEqual(
        got.map((m) => m.text()),
        ['request'],
      );
      assert.ok(got[0] instanceof Request);
    });

    it(
      'REPLIER gives the replier bound to exactly that name, wildcards included, else 0',
      '"IOCTLS" REPLIER',
      async (w) => {
        const r = await w.open();
        const l = await w.open();
        await r.bind('$.Sensors.*', { replier: true });
        await r.bind('$.Fred', { replier: true });
        await l.bind('$.Jim');
        assert.equal(await l.replier('$.Sensors.*'), r.id);
        assert.equal(await l.replier('$.Fred'), r.id);
        assert.equal(await l.replier('$.Sensors.Kitchen'), 0);
        assert.equal(await l.replier('$.Jim'), 0);
        assert.equal(await l.replier('$.Nobody'), 0);
        await r.unbind('$.Fred', { replier: true });
        assert.equal(await l.replier('$.Fred'), 0);
      },
    );
  });

  // --- Unbind ------------------------------------------------------------------------

  section('unbinding', (it) => {
    it(
      'UNBIND must match a binding exactly: otherwise EINVAL and nothing changes',
      '"Listeners"',
      async (w) => {
        const k = await w.open();
        const other = await w.open();
        await rejectsWith(k.unbind('$.Never'), 'EINVAL', 'never bound');
        await k.bind('$.L');
        await rejectsWith(k.unbind('$.L', { replier: true }), 'EINVAL', 'listener as replier');
        await k.bind('$.R', { replier: true });
        await rejectsWith(k.unbind('$.R'), 'EINVAL', 'replier as listener');
        await k.bind('$.A.%');
        await rejectsWith(k.unbind('$.A.*'), 'EINVAL', "'*' for '%'");
        await rejectsWith(k.unbind('$.A.b'), 'EINVAL', 'a name the wildcard covers');
        await rejectsWith(other.unbind('$.L'), 'EINVAL', "another Ksock's binding");
        // Nothing changed: the bindings still work.
        assert.equal(await other.replier('$.R'), k.id);
        await other.announce('$.L', 'l');
        await other.announce('$.A.b', 'a');
        assert.deepEqual(
          (await drain(k)).map((m) => m.text()),
          ['l', 'a'],
        );
        await k.unbind('$.L');
        await k.unbind('$.R', { replier: true });
        await k.unbind('$.A.%');
      },
    );

    it(
      'UNBIND removes the queued messages that came through that binding, and no others',
      '"Listeners"',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.A');
        await l.bind('$.B');
        await l.bind('$.C.*');
        await sender.announce('$.A', 'a1');
        await sender.announce('$.B', 'b1');
        await sender.announce('$.C.x', 'c1');
        await sender.announce('$.A', 'a2');
        assert.equal(await l.numMessages(), 4);
        await l.unbind('$.A');
        assert.equal(await l.numMessages(), 2);
        await sender.announce('$.A', 'a3');
        await sender.announce('$.B', 'marker');
        assert.deepEqual(
          (await drain(l)).map((m) => m.text()),
          ['b1', 'c1', 'marker'],
        );
      },
    );

    it(
      'with a name and a wildcard covering it, unbinding the name leaves the wildcard copy',
      '"Listeners"',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.A');
        await l.bind('$.*');
        await sender.announce('$.A', 'x');
        assert.equal(await l.numMessages(), 2);
        await l.unbind('$.A');
        assert.deepEqual(
          (await drain(l)).map((m) => m.text()),
          ['x'],
        );
      },
    );

    it('UNBIND does not affect the message currently being read', '"Listeners"', async (w) => {
      const l = await w.open('r');
      const sender = await w.open();
      await l.bind('$.A');
      const sent = await sender.announce('$.A', 'being read');
      const length = await l.nextMsg();
      const first = await l.read(10);
      await l.unbind('$.A');
      assert.equal(await l.lenLeft(), length - 10);
      const rest = await l.read(length);
      const bytes = Buffer.concat([first, rest]);
      const got = decodeMessage(bytes);
      assert.deepEqual(plainId(got.id), plainId(sent));
      assert.equal(Buffer.from(got.data).toString(), 'being read');
    });
  });

  // --- Message ids and the fields KBUS sets ---------------------------------------------

  section('message ids and the fields KBUS sets', (it) => {
    it(
      'Ksock ids and local message ids ascend from 1 on each device',
      '"Message ids", "Ksocks"',
      async (w) => {
        const a = await w.open();
        const b = await w.open();
        const l = await w.open('r');
        assert.deepEqual([a.id, b.id, l.id], [1, 2, 3]);
        assert.equal(await a.ksockId(), a.id);
        assert.equal(await l.ksockId(), l.id);
        assert.deepEqual(plainId(await a.lastSent()), id(0, 0));
        await l.bind('$.Ids');
        const sent = [
          await a.announce('$.Ids', 'a1'),
          await b.announce('$.Ids', 'b1'),
          await a.announce('$.Ids', 'a2'),
        ];
        assert.deepEqual(sent.map(plainId), [id(0, 1), id(0, 2), id(0, 3)]);
        assert.deepEqual(plainId(await a.lastSent()), id(0, 3));
        assert.deepEqual(plainId(await b.lastSent()), id(0, 2));
        const got = await drain(l);
        assert.deepEqual(
          got.map((m) => plainId(m.id)),
          sent.map(plainId),
        );
        assert.deepEqual(
          got.map((m) => m.from),
          [a.id, b.id, a.id],
        );
      },
    );

    it(
      'a message with a network id keeps its id; network id 0 gets the next local id',
      '"Message ids"',
      async (w) => {
        const sender = await w.open();
        const l = await w.open('r');
        await l.bind('$.Net');
        assert.deepEqual(plainId(await sender.announce('$.Net', 'local')), id(0, 1));
        const remote = await sender.send({ name: '$.Net', id: id(5, 77), data: 'remote' });
        assert.deepEqual(plainId(remote), id(5, 77));
        assert.deepEqual(plainId(await sender.lastSent()), id(5, 77));
        const replaced = await sender.send({ name: '$.Net', id: id(0, 500), data: 'replaced' });
        assert.deepEqual(plainId(replaced), id(0, 2));
        const got = await drain(l);
        assert.deepEqual(
          got.map((m) => [plainId(m.id), m.text()]),
          [
            [id(0, 1), 'local'],
            [id(5, 77), 'remote'],
            [id(0, 2), 'replaced'],
          ],
        );
      },
    );

    it(
      "'from' is set to the sender, 'extra' zeroed, SYNTHETIC cleared; user flag bits untouched",
      '"Things KBUS changes in a message", "Message flags"',
      async (w) => {
        const sender = await w.open();
        const l = await w.open('r');
        await l.bind('$.Fields');
        const userBits = 0xabcd0000;
        await sender.send({
          name: '$.Fields',
          from: 999,
          extra: 7,
          flags: (userBits | Flags.SYNTHETIC | Flags.WANT_YOU_TO_REPLY) >>> 0,
          origFrom: { networkId: 3, localId: 4 },
          finalTo: { networkId: 5, localId: 6 },
          data: 'd',
        });
        const got = await nextOf(l);
        assert.ok(got instanceof Announcement, got.kind);
        assert.equal(got.from, sender.id);
        assert.equal(got.extra, 0);
        assert.equal(got.flags >>> 0, userBits);
        assert.equal(got.isSynthetic, false);
        assert.equal(got.wantsYouToReply, false);
        assert.deepEqual({ ...got.origFrom }, { networkId: 3, localId: 4 });
        assert.deepEqual({ ...got.finalTo }, { networkId: 5, localId: 6 });
        assert.equal(got.text(), 'd');
      },
    );
  });

  // --- Requests and replies ------------------------------------------------------------

  section('requests and replies', (it) => {
    it(
      'WANT_YOU_TO_REPLY is set only on the replier’s copy of a request',
      '"Request message", "Repliers"',
      async (w) => {
        const both = await w.open();
        const listener = await w.open('r');
        const sender = await w.open();
        await both.bind('$.Fred', { replier: true });
        await both.bind('$.Fred');
        await listener.bind('$.Fred');
        const sent = await sender.send({ name: '$.Fred', flags: REQUEST });
        const bothGot = await drain(both);
        assert.equal(bothGot.length, 2);
        assert.equal(bothGot.filter((m) => m.wantsYouToReply).length, 1);
        const listenerGot = await drain(listener);
        assert.equal(listenerGot.length, 1);
        assert.equal(listenerGot[0]!.wantsYouToReply, false);
        for (const m of [...bothGot, ...listenerGot]) {
          assert.ok(m instanceof Request, m.kind);
          assert.ok(m.flags & Flags.WANT_A_REPLY);
          assert.deepEqual(plainId(m.id), plainId(sent));
          assert.equal(m.from, sender.id);
        }
      },
    );

    it(
      'a request with no replier is EADDRNOTAVAIL and reaches no listener',
      '"Request message", "Error numbers" EADDRNOTAVAIL',
      async (w) => {
        const listener = await w.open('r');
        const sender = await w.open();
        await listener.bind('$.Fred');
        await rejectsWith(sender.send({ name: '$.Fred', flags: REQUEST }), 'EADDRNOTAVAIL', 'send');
        await rejectsWith(
          sender.request('$.Fred', 'x', { timeout: WAIT }),
          'EADDRNOTAVAIL',
          'request()',
        );
        await sender.announce('$.Fred', 'marker');
        assert.deepEqual(
          (await drain(listener)).map((m) => m.text()),
          ['marker'],
        );
      },
    );

    it(
      "stateful requests: 'to' the replier works; another Ksock is EPIPE; no replier is EADDRNOTAVAIL",
      '"Stateful transactions", "Error numbers" EPIPE',
      async (w) => {
        const r1 = await w.open();
        const r2 = await w.open();
        const sender = await w.open();
        await r1.bind('$.S', { replier: true });
        await sender.send({ name: '$.S', to: r1.id, flags: REQUEST, data: 'stateful' });
        const got = await nextOf(r1);
        assert.equal(got.text(), 'stateful');
        assert.ok(got.wantsYouToReply);
        await rejectsWith(
          sender.send({ name: '$.S', to: r2.id, flags: REQUEST }),
          'EPIPE',
          'to a non-replier',
        );
        await r1.unbind('$.S', { replier: true });
        await r2.bind('$.S', { replier: true });
        await rejectsWith(
          sender.send({ name: '$.S', to: r1.id, flags: REQUEST }),
          'EPIPE',
          'to the replaced replier',
        );
        await r2.unbind('$.S', { replier: true });
        await rejectsWith(
          sender.send({ name: '$.S', to: r2.id, flags: REQUEST }),
          'EADDRNOTAVAIL',
          'no replier',
        );
      },
    );

    it(
      'request() resolves with the Reply: in_reply_to is the request id, from the replier',
      '"Reply message", "Requests and Replies"',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        await replier.bind('$.Ping', { replier: true });
        const pending = sender.request('$.Ping', 'ping', { timeout: WAIT });
        const requestId = await sender.lastSent();
        const req = await recv(replier);
        assert.ok(req instanceof Request, req.kind);
        assert.ok(req.wantsYouToReply);
        assert.deepEqual(plainId(req.id), plainId(requestId));
        assert.equal(req.from, sender.id);
        assert.equal(req.text(), 'ping');
        assert.equal(await replier.unrepliedTo(), 1);
        const replyId = await replier.replyTo(req, 'pong');
        assert.equal(await replier.unrepliedTo(), 0);
        const reply = await pending;
        assert.ok(reply instanceof Reply, reply.kind);
        assert.equal(reply.kind, 'reply');
        assert.deepEqual(plainId(reply.inReplyTo), plainId(requestId));
        assert.deepEqual(plainId(reply.id), plainId(replyId));
        assert.equal(reply.from, replier.id);
        assert.equal(reply.to, sender.id);
        assert.equal(reply.name, '$.Ping');
        assert.equal(reply.text(), 'pong');
      },
    );

    it(
      'a stateful request() with `to` reaches that replier',
      '"Stateful transactions"',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        await replier.bind('$.S', { replier: true });
        const first = sender.request('$.S', '1', { timeout: WAIT });
        await replier.replyTo(await recv(replier), 'one');
        const reply = await first;
        const second = sender.request('$.S', '2', { to: reply.from, timeout: WAIT });
        const req = await recv(replier);
        assert.equal(req.to, replier.id);
        await replier.replyTo(req, 'two');
        assert.equal((await second).text(), 'two');
      },
    );

    it(
      'many concurrent request()s each resolve with their own reply',
      '"Requests and Replies"',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        await replier.bind('$.Echo', { replier: true });
        const serving = (async () => {
          let n = 0;
          for await (const req of replier.messages({ signal: AbortSignal.timeout(30_000) })) {
            await replier.replyTo(req, `echo ${req.text()}`);
            if (++n === 50) return n;
          }
          return n;
        })();
        const replies = await Promise.all(
          Array.from({ length: 50 }, (_, i) =>
            sender.request('$.Echo', String(i), { timeout: 20_000 }),
          ),
        );
        assert.equal(await serving, 50);
        assert.deepEqual(
          replies.map((r) => r.text()),
          Array.from({ length: 50 }, (_, i) => `echo ${i}`),
        );
      },
    );

    it(
      'a reply goes to the sender and the listeners, not to the replier',
      '"Reply message"',
      async (w) => {
        const replier = await w.open();
        const listener = await w.open('r');
        const sender = await w.open();
        await replier.bind('$.Fred', { replier: true });
        await replier.bind('$.Marker');
        await listener.bind('$.Fred');
        const pending = sender.request('$.Fred', 'q', { timeout: WAIT });
        const req = await recv(replier);
        const replyId = await replier.replyTo(req, 'a');
        const reply = await pending;
        assert.deepEqual(plainId(reply.id), plainId(replyId));
        const l1 = await recv(listener);
        const l2 = await recv(listener);
        assert.ok(l1 instanceof Request, l1.kind);
        assert.equal(l1.wantsYouToReply, false);
        assert.ok(l2 instanceof Reply, l2.kind);
        assert.deepEqual(plainId(l2.inReplyTo), plainId(req.id));
        assert.equal(l2.text(), 'a');
        await sender.announce('$.Marker', 'marker');
        const next = await recv(replier);
        assert.equal(next.name, '$.Marker', 'the replier got its own reply');
      },
    );

    it(
      'a replier that also listens gets one copy of its own reply (as listener)',
      '"Request message"',
      async (w) => {
        const both = await w.open();
        const sender = await w.open();
        await both.bind('$.Fred', { replier: true });
        await both.bind('$.Fred');
        const requestId = await sender.send({ name: '$.Fred', flags: REQUEST });
        const copies = await drain(both);
        const mine = copies.find((m) => m.wantsYouToReply);
        assert.ok(mine);
        await both.replyTo(mine, 'r');
        await both.bind('$.Marker');
        await sender.announce('$.Marker');
        const got = await drain(both);
        assert.deepEqual(
          got.map((m) => m.kind),
          ['reply', 'announcement'],
        );
        assert.deepEqual(plainId(got[0]!.inReplyTo), plainId(requestId));
      },
    );

    it(
      'a reply to the wrong id, to the wrong Ksock, or a second reply is ECONNREFUSED',
      '"Error numbers" ECONNREFUSED',
      async (w) => {
        const replier = await w.open();
        const other = await w.open();
        const sender = await w.open();
        await replier.bind('$.Fred', { replier: true });
        const requestId = await sender.send({ name: '$.Fred', flags: REQUEST });
        const req = await nextOf(replier);
        await rejectsWith(
          replier.send({
            name: '$.Fred',
            to: sender.id,
            inReplyTo: id(0, requestId.serialNum + 1000),
          }),
          'ECONNREFUSED',
          'wrong id',
        );
        await rejectsWith(
          replier.send({ name: '$.Fred', to: other.id, inReplyTo: requestId }),
          'ECONNREFUSED',
          'wrong Ksock',
        );
        await replier.replyTo(req, 'once');
        await rejectsWith(replier.replyTo(req, 'twice'), 'ECONNREFUSED', 'second reply');
        const got = await drain(sender);
        assert.deepEqual(
          got.map((m) => m.text()),
          ['once'],
        );
      },
    );

    it(
      'a reply after the sender closed is EADDRNOTAVAIL',
      '"Error numbers" EADDRNOTAVAIL',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        await replier.bind('$.Fred', { replier: true });
        await sender.send({ name: '$.Fred', flags: REQUEST });
        const req = await nextOf(replier);
        await sender.close();
        await rejectsWith(replier.replyTo(req, 'too late'), 'EADDRNOTAVAIL');
      },
    );
  });

  // --- The reply guarantee -----------------------------------------------------------

  section('the reply guarantee', (it) => {
    /** A replier bound to '$.Q' and a sender with a request() queued for it (not read). */
    async function queued(w: World) {
      const replier = await w.open();
      const sender = await w.open();
      await replier.bind('$.Q', { replier: true });
      const pending = sender.request('$.Q', 'q', { timeout: WAIT });
      const requestId = await sender.lastSent();
      assert.equal(await replier.numMessages(), 1);
      return { replier, sender, pending, requestId };
    }

    function assertStatus(
      m: KbusMessage,
      name: string,
      requestId: MessageId,
      from: number,
      to: number,
    ): void {
      assert.ok(m instanceof Status, `${m.kind} ${m.name}`);
      assert.equal(m.kind, 'status');
      assert.equal(m.name, name);
      assert.deepEqual(plainId(m.inReplyTo), plainId(requestId));
      assert.equal(m.from, from);
      assert.equal(m.to, to);
      assert.ok(m.isSynthetic);
    }

    it(
      'a replier closing before reading the request gives $.KBUS.Replier.GoneAway',
      '"Requests and Replies" case 2',
      async (w) => {
        const { replier, sender, pending, requestId } = await queued(w);
        const replierId = replier.id;
        await replier.close();
        assertStatus(await pending, MessageNames.REPLIER_GONEAWAY, requestId, replierId, sender.id);
      },
    );

    it(
      'a replier closing after NEXTMSG without replying gives $.KBUS.Replier.Ignored',
      '"Requests and Replies" case 3',
      async (w) => {
        const { replier, sender, pending, requestId } = await queued(w);
        assert.ok((await replier.nextMsg()) > 0);
        const replierId = replier.id;
        await replier.close();
        assertStatus(await pending, MessageNames.REPLIER_IGNORED, requestId, replierId, sender.id);
      },
    );

    it(
      'a request received through receive() counts as read: closing gives Ignored',
      '"Requests and Replies" case 3; protocol.md STREAM',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        await replier.bind('$.Q', { replier: true });
        const pending = sender.request('$.Q', 'q', { timeout: WAIT });
        const req = await recv(replier);
        assert.ok(req.wantsYouToReply);
        const replierId = replier.id;
        await replier.close();
        assertStatus(await pending, MessageNames.REPLIER_IGNORED, req.id, replierId, sender.id);
      },
    );

    it(
      'a replier unbinding before reading gives $.KBUS.Replier.Unbound and loses the request',
      '"Requests and Replies" case 1',
      async (w) => {
        const { replier, sender, pending, requestId } = await queued(w);
        await replier.unbind('$.Q', { replier: true });
        assert.equal(await replier.numMessages(), 0);
        assertStatus(await pending, MessageNames.REPLIER_UNBOUND, requestId, replier.id, sender.id);
        assert.equal(await replier.next(), undefined);
      },
    );

    it(
      'a stateful request gets GoneAway too when its replier closes',
      '"Requests and Replies", "Stateful transactions"',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        await replier.bind('$.Q', { replier: true });
        const pending = sender.request('$.Q', 'q', { to: replier.id, timeout: WAIT });
        const requestId = await sender.lastSent();
        const replierId = replier.id;
        await replier.close();
        assertStatus(await pending, MessageNames.REPLIER_GONEAWAY, requestId, replierId, sender.id);
      },
    );

    it(
      'a replied request gets exactly one answer: no status when the replier then closes',
      '"Requests and Replies"',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        const marker = await w.open();
        await replier.bind('$.Q', { replier: true });
        await sender.bind('$.Marker');
        const pending = sender.request('$.Q', 'q', { timeout: WAIT });
        await replier.replyTo(await recv(replier), 'answer');
        assert.equal((await pending).text(), 'answer');
        await replier.close();
        await marker.announce('$.Marker', 'marker');
        const next = await recv(sender);
        assert.equal(next.name, '$.Marker', `got ${next.kind} ${next.name}`);
      },
    );

    it(
      'the answer to a request() that timed out is dropped and counted, never handed to receive()',
      '"Requests and Replies"',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        const marker = await w.open();
        await replier.bind('$.Slow', { replier: true });
        await sender.bind('$.Marker');
        const pending = sender.request('$.Slow', 'q', { timeout: 50 });
        await rejectsWithTimeout(pending);
        // The replier's going away sends the sender a status message for the request.
        await replier.close();
        await marker.announce('$.Marker', 'marker');
        const next = await recv(sender);
        assert.equal(next.name, '$.Marker', `got ${next.kind} ${next.name}`);
        assert.equal(sender.lateReplies, 1);
      },
    );

    it(
      'a reply that comes after its request() was aborted is dropped too',
      '"Requests and Replies"',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        const marker = await w.open();
        await replier.bind('$.Q', { replier: true });
        await sender.bind('$.Marker');
        const controller = new AbortController();
        const pending = sender.request('$.Q', 'q', { signal: controller.signal });
        const request = await recv(replier);
        const reason = new Error('no longer wanted');
        controller.abort(reason);
        await rejectsWithAbort(pending, reason);
        await replier.replyTo(request, 'too late');
        await marker.announce('$.Marker', 'marker');
        const next = await recv(sender);
        assert.equal(next.name, '$.Marker', `got ${next.kind} ${next.name}`);
        assert.equal(sender.lateReplies, 1);
      },
    );

    it(
      'a waiting ALL_OR_WAIT request whose replier closes gets $.KBUS.Replier.Disappeared from 0',
      '"Requests and Replies" case 4',
      async (w) => {
        const replier = await w.open();
        const first = await w.open();
        const second = await w.open();
        await replier.bind('$.Q', { replier: true });
        assert.equal(await replier.maxMessages(1), 1);
        const firstId = await first.send({ name: '$.Q', flags: REQUEST });
        await rejectsWith(
          second.send({ name: '$.Q', flags: REQUEST | Flags.ALL_OR_WAIT }),
          'EAGAIN',
        );
        const waitingId = await second.lastSent();
        const replierId = replier.id;
        await replier.close();
        assertStatus(
          await recv(first),
          MessageNames.REPLIER_GONEAWAY,
          firstId,
          replierId,
          first.id,
        );
        assertStatus(await recv(second), MessageNames.REPLIER_DISAPPEARED, waitingId, 0, second.id);
      },
    );
  });

  // --- Queues ------------------------------------------------------------------------

  section('queues', (it) => {
    /** A listener on '$.F' whose queue (limit 1) is full, and a sender. */
    async function full(w: World) {
      const listener = await w.open('r');
      const sender = await w.open();
      await listener.bind('$.F');
      assert.equal(await listener.maxMessages(1), 1);
      await sender.announce('$.F', 'filler');
      assert.equal(await listener.numMessages(), 1);
      return { listener, sender };
    }

    it(
      'MAXMSGS: 100 by default, 0 only asks, a value sets the limit; NUMMSGS counts',
      '"IOCTLS" MAXMSGS, NUMMSGS',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        assert.equal(await l.maxMessages(), 100);
        assert.equal(await l.maxMessages(0), 100);
        assert.equal(await l.maxMessages(3), 3);
        assert.equal(await l.maxMessages(), 3);
        await l.bind('$.N');
        assert.equal(await l.numMessages(), 0);
        for (let i = 0; i < 5; i++) await sender.announce('$.N', String(i));
        assert.equal(await l.numMessages(), 3);
        assert.equal((await nextOf(l)).text(), '0');
        assert.equal(await l.numMessages(), 2);
        assert.deepEqual(
          (await drain(l)).map((m) => m.text()),
          ['1', '2'],
        );
        assert.equal(await l.numMessages(), 0);
      },
    );

    it(
      'by default a full listener is skipped and the send succeeds',
      '"Queues filling up"',
      async (w) => {
        const { listener, sender } = await full(w);
        const roomy = await w.open('r');
        await roomy.bind('$.F');
        await sender.announce('$.F', 'skipped');
        assert.deepEqual(
          (await drain(roomy)).map((m) => m.text()),
          ['skipped'],
        );
        assert.equal((await nextOf(listener)).text(), 'filler');
        await sender.announce('$.F', 'marker');
        assert.deepEqual(
          (await drain(listener)).map((m) => m.text()),
          ['marker'],
        );
      },
    );

    it(
      'ALL_OR_FAIL with a full listener is EBUSY and nobody gets the message',
      '"Send flags", "Error numbers" EBUSY',
      async (w) => {
        const { listener, sender } = await full(w);
        const roomy = await w.open('r');
        await roomy.bind('$.F');
        await rejectsWith(
          sender.announce('$.F', 'all or nothing', { flags: Flags.ALL_OR_FAIL }),
          'EBUSY',
        );
        await sender.announce('$.F', 'marker');
        assert.deepEqual(
          (await drain(roomy)).map((m) => m.text()),
          ['marker'],
        );
        assert.deepEqual(
          (await drain(listener)).map((m) => m.text()),
          ['filler'],
        );
        // With room everywhere, ALL_OR_FAIL delivers to everyone.
        await sender.announce('$.F', 'all', { flags: Flags.ALL_OR_FAIL });
        assert.deepEqual(
          (await drain(roomy)).map((m) => m.text()),
          ['all'],
        );
        assert.deepEqual(
          (await drain(listener)).map((m) => m.text()),
          ['all'],
        );
      },
    );

    it('ALL_OR_WAIT and ALL_OR_FAIL together are EINVAL', '"Send flags"', async (w) => {
      const sender = await w.open();
      await rejectsWith(
        sender.announce('$.F', 'x', { flags: Flags.ALL_OR_FAIL | Flags.ALL_OR_WAIT }),
        'EINVAL',
      );
    });

    it(
      'a request to a replier with a full queue is EBUSY, but its id is assigned (LASTSENT)',
      '"Queues filling up", "Error numbers" EBUSY',
      async (w) => {
        const replier = await w.open();
        const s1 = await w.open();
        const s2 = await w.open();
        await replier.bind('$.R', { replier: true });
        assert.equal(await replier.maxMessages(1), 1);
        const first = await s1.send({ name: '$.R', flags: REQUEST });
        await rejectsWith(s2.send({ name: '$.R', flags: REQUEST }), 'EBUSY');
        assert.deepEqual(plainId(await s2.lastSent()), id(0, first.serialNum + 1));
        assert.equal(await replier.numMessages(), 1);
      },
    );

    it(
      'a sender with no room left for the reply gets ENOLCK, and no id is assigned',
      '"Queues filling up", "Error numbers" ENOLCK',
      async (w) => {
        const replier = await w.open();
        const sender = await w.open();
        await replier.bind('$.R', { replier: true });
        assert.equal(await sender.maxMessages(1), 1);
        const first = await sender.send({ name: '$.R', flags: REQUEST });
        await rejectsWith(sender.send({ name: '$.R', flags: REQUEST }), 'ENOLCK');
        assert.deepEqual(plainId(await sender.lastSent()), plainId(first));
        // The sender is not left sending: it can still send an announcement,
        // which takes the next serial number.
        assert.deepEqual(plainId(await sender.announce('$.Other')), id(0, first.serialNum + 1));
        // The reply fills the reserved slot; once read, there is room again.
        await replier.replyTo(await nextOf(replier), 'r');
        assert.equal((await nextOf(sender)).text(), 'r');
        await sender.send({ name: '$.R', flags: REQUEST });
      },
    );

    it(
      'ALL_OR_WAIT: EAGAIN, EALREADY while pending, then completion once poll shows POLLOUT',
      '"Send flags", "Select, write/send and next message, blocking"',
      async (w) => {
        const { listener, sender } = await full(w);
        const bytes = encodeMessage(makeMessage({ name: '$.Other' }));
        await rejectsWith(
          sender.announce('$.F', 'waited', { flags: Flags.ALL_OR_WAIT }),
          'EAGAIN',
          'send',
        );
        const waitingId = await sender.lastSent();
        assert.equal((await sender.poll()) & Poll.OUT, 0);
        await rejectsWith(sender.write(bytes), 'EALREADY', 'write');
        await rejectsWith(sender.announce('$.Other'), 'EALREADY', 'send');
        const ready = sender.waitReady(Poll.OUT, { timeout: WAIT });
        // (No poll() here: a POLL replaces the armed notification; protocol.md POLL.)
        assert.equal((await nextOf(listener)).text(), 'filler');
        assert.equal((await ready) & Poll.OUT, Poll.OUT);
        assert.equal((await sender.poll()) & Poll.OUT, Poll.OUT);
        const got = await nextOf(listener);
        assert.equal(got.text(), 'waited');
        assert.deepEqual(plainId(got.id), plainId(waitingId));
        assert.equal(got.from, sender.id);
        assert.deepEqual(plainId(await sender.announce('$.Other')), id(0, waitingId.serialNum + 1));
      },
    );

    it(
      'ALL_OR_WAIT: DISCARD abandons the pending send, and the message never arrives',
      '"Send flags"',
      async (w) => {
        const { listener, sender } = await full(w);
        await rejectsWith(
          sender.announce('$.F', 'abandoned', { flags: Flags.ALL_OR_WAIT }),
          'EAGAIN',
        );
        await sender.discard();
        assert.equal((await sender.poll()) & Poll.OUT, Poll.OUT);
        await rejectsWith(sender.sendWritten(), 'ENOMSG', 'nothing left to send');
        assert.equal((await nextOf(listener)).text(), 'filler');
        await sender.announce('$.F', 'marker');
        assert.deepEqual(
          (await drain(listener)).map((m) => m.text()),
          ['marker'],
        );
      },
    );

    it(
      'URGENT messages go to the front of the queue: the second urgent one is read first',
      '"Urgent messages"',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.U');
        await sender.announce('$.U', 'a');
        await sender.announce('$.U', 'b');
        await sender.announce('$.U', 'u1', { flags: Flags.URGENT });
        await sender.announce('$.U', 'u2', { flags: Flags.URGENT });
        const got = await drain(l);
        assert.deepEqual(
          got.map((m) => m.text()),
          ['u2', 'u1', 'a', 'b'],
        );
        assert.deepEqual(
          got.map((m) => m.isUrgent),
          [true, true, false, false],
        );
      },
    );

    it(
      'MSGONLYONCE: one copy per message, the WANT_YOU_TO_REPLY one for a replier',
      '"Receiving messages once only"',
      async (w) => {
        const once = await w.open();
        const twice = await w.open();
        const sender = await w.open();
        assert.equal(await once.msgOnlyOnce(), false);
        assert.equal(await once.msgOnlyOnce(true), false);
        assert.equal(await once.msgOnlyOnce(), true);
        assert.equal(await twice.msgOnlyOnce(), false);
        for (const [k, name] of [
          [once, '$.Once'],
          [twice, '$.Twice'],
        ] as const) {
          await k.bind(name, { replier: true });
          await k.bind(name);
          await k.bind('$.Wild.*');
          await k.bind('$.Wild.%');
          await sender.send({ name, flags: REQUEST });
        }
        await sender.announce('$.Wild.x', 'w1');
        await sender.announce('$.Wild.x', 'w2');
        const onceGot = await drain(once);
        assert.deepEqual(
          onceGot.map((m) => [m.name, m.wantsYouToReply]),
          [
            ['$.Once', true],
            ['$.Wild.x', false],
            ['$.Wild.x', false],
          ],
        );
        assert.deepEqual(
          onceGot.slice(1).map((m) => m.text()),
          ['w1', 'w2'],
        );
        const twiceGot = await drain(twice);
        assert.equal(twiceGot.filter((m) => m.name === '$.Twice').length, 2);
        assert.equal(twiceGot.filter((m) => m.wantsYouToReply).length, 1);
        assert.equal(twiceGot.filter((m) => m.name === '$.Wild.x').length, 4);
        assert.equal(await once.msgOnlyOnce(false), true);
      },
    );
  });

  // --- Writing and reading in pieces ------------------------------------------------------

  section('write/send and nextmsg/read in pieces', (it) => {
    it(
      'a message written in parts is sent by SEND (sendWritten)',
      '"Senders", "IOCTLS" SEND',
      async (w) => {
        const sender = await w.open();
        const l = await w.open('r');
        await l.bind('$.Parts');
        const bytes = encodeMessage(
          makeMessage({ name: '$.Parts', data: new TextEncoder().encode('in pieces') }),
        );
        const cuts = [0, 1, 10, 64, 67, 75, bytes.length];
        for (let i = 1; i < cuts.length; i++) {
          const piece = bytes.subarray(cuts[i - 1], cuts[i]);
          assert.equal(await sender.write(piece), piece.length);
        }
        const sent = await sender.sendWritten();
        assert.deepEqual(plainId(sent), id(0, 1));
        assert.deepEqual(plainId(await sender.lastSent()), id(0, 1));
        const got = await nextOf(l);
        assert.equal(got.text(), 'in pieces');
        assert.deepEqual(plainId(got.id), id(0, 1));
        assert.equal(got.from, sender.id);
        await rejectsWith(sender.sendWritten(), 'ENOMSG', 'SEND again with nothing written');
      },
    );

    it(
      'SEND with nothing written is ENOMSG; DISCARD drops a partly written message',
      '"IOCTLS" DISCARD, "Error numbers" ENOMSG',
      async (w) => {
        const sender = await w.open();
        const l = await w.open('r');
        await l.bind('$.D');
        await rejectsWith(sender.sendWritten(), 'ENOMSG', 'fresh');
        const dropped = encodeMessage(
          makeMessage({ name: '$.D', data: new TextEncoder().encode('dropped') }),
        );
        await sender.write(dropped.subarray(0, 70));
        await sender.discard();
        await rejectsWith(sender.sendWritten(), 'ENOMSG', 'after DISCARD');
        const kept = encodeMessage(
          makeMessage({ name: '$.D', data: new TextEncoder().encode('kept') }),
        );
        await sender.write(kept);
        await sender.sendWritten();
        assert.deepEqual(
          (await drain(l)).map((m) => m.text()),
          ['kept'],
        );
      },
    );

    it(
      'bytes past the final end guard are EMSGSIZE; a bad start guard is EINVAL',
      '"Error numbers" EMSGSIZE, EINVAL; "Message content"',
      async (w) => {
        const sender = await w.open();
        const bytes = encodeMessage(makeMessage({ name: '$.E' }));
        const longer = new Uint8Array(bytes.length + 4);
        longer.set(bytes);
        await rejectsWith(sender.write(longer), 'EMSGSIZE', 'past the end');
        await rejectsWith(sender.sendWritten(), 'ENOMSG', 'after EMSGSIZE');
        const badGuard = bytes.slice();
        badGuard[0] = 0;
        await rejectsWith(sender.write(badGuard), 'EINVAL', 'bad guard');
        await rejectsWith(sender.sendWritten(), 'ENOMSG', 'after EINVAL');
      },
    );

    it(
      'NEXTMSG gives the entire length; READ in pieces and LENLEFT give the encoded bytes',
      '"IOCTLS" NEXTMSG, LENLEFT; "Message implementation"',
      async (w) => {
        const sender = await w.open();
        const l = await w.open('r');
        await l.bind('$.Read');
        assert.equal(await l.nextMsg(), 0);
        assert.equal(await l.lenLeft(), 0);
        assert.equal((await l.read(100)).length, 0);
        const data = new TextEncoder().encode('abc1234');
        const sent = await sender.send({ name: '$.Read', data });
        const expected = encodeMessage(
          makeMessage({ name: '$.Read', data, id: sent, from: sender.id }),
        );
        const length = await l.nextMsg();
        assert.equal(length, entireMessageLength('$.Read'.length, data.length));
        assert.equal(length, expected.length);
        assert.equal(await l.lenLeft(), length);
        const parts: Uint8Array[] = [];
        for (const size of [10, 1, 53, 7]) {
          const part = await l.read(size);
          assert.equal(part.length, size);
          parts.push(part);
        }
        assert.equal(await l.lenLeft(), length - 71);
        parts.push(await l.read(1000));
        assert.equal(await l.lenLeft(), 0);
        assert.equal((await l.read(10)).length, 0);
        assert.deepEqual(new Uint8Array(Buffer.concat(parts)), expected);
        assert.equal(await l.nextMsg(), 0);
      },
    );

    it('NEXTMSG again drops a half-read message and readies the next', '"Listeners"', async (w) => {
      const sender = await w.open();
      const l = await w.open('r');
      await l.bind('$.R');
      await sender.announce('$.R', 'first');
      const second = await sender.announce('$.R', 'second');
      await l.nextMsg();
      await l.read(5);
      const length = await l.nextMsg();
      const got = decodeMessage(await l.read(length));
      assert.deepEqual(plainId(got.id), plainId(second));
    });

    it(
      'the bytes a replier reads carry its WANT_YOU_TO_REPLY flag',
      '"Message flags"',
      async (w) => {
        const sender = await w.open();
        const replier = await w.open();
        await replier.bind('$.Q', { replier: true });
        await sender.send({ name: '$.Q', flags: REQUEST });
        const length = await replier.nextMsg();
        const bytes = await replier.read(length);
        const flags = new DataView(bytes.buffer, bytes.byteOffset).getUint32(48, true);
        assert.equal(flags, Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY);
      },
    );
  });

  // --- Bind events, devices, texts ---------------------------------------------------------

  section('replier bind events', (it) => {
    it(
      'REPORTREPLIERBINDS: replier binds, unbinds and closes become $.KBUS.ReplierBindEvent',
      '"IOCTLS" REPORTREPLIERBINDS',
      async (w) => {
        const watcher = await w.open('r');
        const r = await w.open();
        const r2 = await w.open();
        await watcher.bind(MessageNames.REPLIER_BIND_EVENT);
        assert.equal(await watcher.reportReplierBinds(), false);
        assert.equal(await watcher.reportReplierBinds(true), false);
        assert.equal(await r.reportReplierBinds(), true, 'the setting is the device’s');
        await r.bind('$.X', { replier: true });
        await r.bind('$.Listened');
        await r.unbind('$.Listened');
        await r.unbind('$.X', { replier: true });
        await r2.bind('$.Y.*', { replier: true });
        await r2.close();
        const events: unknown[] = [];
        for (let i = 0; i < 4; i++) {
          const m = await recv(watcher);
          assert.ok(m instanceof Status, `${m.kind} ${m.name}`);
          assert.equal(m.name, MessageNames.REPLIER_BIND_EVENT);
          events.push(m.replierBindEvent);
        }
        assert.deepEqual(events, [
          { isBind: true, binder: r.id, name: '$.X' },
          { isBind: false, binder: r.id, name: '$.X' },
          { isBind: true, binder: r2.id, name: '$.Y.*' },
          { isBind: false, binder: r2.id, name: '$.Y.*' },
        ]);
        assert.equal(await r.reportReplierBinds(false), true);
        await r.bind('$.Z', { replier: true });
        await watcher.bind('$.Marker');
        await r.announce('$.Marker');
        assert.equal((await recv(watcher)).name, '$.Marker', 'no event once reporting is off');
      },
    );
  });

  section('devices and modes', (it) => {
    it(
      'NEWDEVICE gives the next index; a new device has its own ids and no bindings',
      '"IOCTLS" NEWDEVICE, "The KBUS devices"',
      async (w) => {
        const k = await w.open();
        const a = await k.newDevice();
        const b = await k.newDevice();
        assert.equal(a, w.device + 1);
        assert.equal(b, a + 1);
        const onA = await w.open('rw', { device: a });
        const onB = await w.open('rw', { device: b });
        const onB2 = await w.open('r', { device: b });
        assert.equal(onA.id, 1);
        assert.deepEqual([onB.id, onB2.id], [1, 2]);
        assert.equal(onB.device, b);
        await onA.bind('$.Dev');
        await onB2.bind('$.Dev');
        assert.deepEqual(plainId(await onB.announce('$.Dev', 'on b')), id(0, 1));
        assert.deepEqual(plainId(await onA.announce('$.Dev', 'on a')), id(0, 1));
        assert.deepEqual(
          (await drain(onA)).map((m) => m.text()),
          ['on a'],
        );
        assert.deepEqual(
          (await drain(onB2)).map((m) => m.text()),
          ['on b'],
        );
        // A replier on another device does not count.
        await onA.bind('$.Q', { replier: true });
        await rejectsWith(onB.send({ name: '$.Q', flags: REQUEST }), 'EADDRNOTAVAIL');
      },
    );

    it('opening a device that does not exist is ENOENT', '"Error numbers" ENOENT', async (w) => {
      await rejectsWith(w.open('rw', { device: w.device + 1 }), 'ENOENT', 'next index');
      await rejectsWith(w.open('rw', { device: 1000 }), 'ENOENT', 'index 1000');
    });

    it(
      'a read-only Ksock gets EBADF for WRITE, SEND and sending; it can bind and read',
      '"Ksocks"; protocol.md OPEN',
      async (w) => {
        const r = await w.open('r');
        const sender = await w.open('w');
        const bytes = encodeMessage(makeMessage({ name: '$.RO' }));
        await rejectsWith(r.announce('$.RO'), 'EBADF', 'send');
        await rejectsWith(r.write(bytes), 'EBADF', 'write');
        await rejectsWith(r.sendWritten(), 'EBADF', 'SEND');
        await rejectsWith(r.request('$.RO', 'x', { timeout: WAIT }), 'EBADF', 'request()');
        assert.equal(await r.poll(), 0);
        await r.bind('$.RO');
        await sender.announce('$.RO', 'from a write-only Ksock');
        assert.equal((await recv(r)).text(), 'from a write-only Ksock');
      },
    );

    it(
      'poll: POLLOUT for a writable Ksock, POLLIN while a message is queued; waitReady(IN)',
      '"Select, write/send and next message, blocking"',
      async (w) => {
        const l = await w.open();
        const sender = await w.open();
        await l.bind('$.P');
        assert.equal(await l.poll(), Poll.OUT);
        const ready = l.waitReady(Poll.IN, { timeout: WAIT });
        await sender.announce('$.P');
        assert.equal((await ready) & Poll.IN, Poll.IN);
        assert.equal(await l.poll(), Poll.IN | Poll.OUT);
        await nextOf(l);
        assert.equal(await l.poll(), Poll.OUT);
      },
    );

    it(
      'VERBOSE is a device setting and returns the previous state; RESET has no effect',
      '"IOCTLS" VERBOSE, RESET',
      async (w) => {
        const a = await w.open();
        const b = await w.open();
        assert.equal(await a.verbose(), false);
        assert.equal(await a.verbose(true), false);
        assert.equal(await b.verbose(), true);
        assert.equal(await b.verbose(false), true);
        assert.equal(await a.verbose(), false);
        await a.bind('$.Kept');
        await a.reset();
        await b.announce('$.Kept', 'still bound');
        assert.equal((await nextOf(a)).text(), 'still bound');
      },
    );

    it(
      'bindings() is /proc/kbus/bindings: one line per binding, newest first, per device',
      '"/proc/kbus/bindings"',
      async (w) => {
        const a = await w.open('rw', { pid: 4242 });
        const b = await w.open('r', { pid: 123456789 });
        await a.bind('$.Fred');
        await b.bind('$.Jim.*');
        await a.bind('$.Jim.*', { replier: true });
        const text = await a.bindings();
        const sections = text.split(BINDINGS_HEADER);
        assert.equal(sections[0], '');
        assert.ok(sections.length >= w.device + 2, 'a header for every device');
        const line = (ksock: number, pid: number, rl: string, name: string) =>
          `${String(w.device).padStart(3)}: ${String(ksock).padStart(8)} ${String(pid).padStart(8)}  ${rl}  ${name}\n`;
        assert.equal(
          sections[w.device + 1],
          line(a.id, 4242, 'R', '$.Jim.*') +
            line(b.id, 123456789, 'L', '$.Jim.*') +
            line(a.id, 4242, 'L', '$.Fred'),
        );
        await a.unbind('$.Fred');
        await b.close();
        const after = (await a.bindings()).split(BINDINGS_HEADER);
        assert.equal(after[w.device + 1], line(a.id, 4242, 'R', '$.Jim.*'));
      },
    );

    it(
      'stats() is /proc/kbus/stats: the device, then each Ksock newest first',
      '"/proc/kbus/stats"',
      async (w) => {
        const sender = await w.open();
        const l = await w.open('r');
        await l.bind('$.Fred');
        await l.maxMessages(5);
        await sender.announce('$.Fred');
        await sender.announce('$.Fred', 'abc1234');
        const total = entireMessageLength('$.Fred'.length, 0);
        assert.equal(await l.nextMsg(), total);
        await l.read(10);
        const lines = (await sender.stats()).split('\n');
        const start = lines.indexOf(
          `dev ${String(w.device).padStart(2)}: next ksock 3 next msg 3 unsent unbindings 0`,
        );
        assert.ok(start >= 0, lines.join('\n'));
        assert.deepEqual(lines.slice(start + 1, start + 7), [
          `    ksock ${l.id} last msg 0:0 queue 1 of 5`,
          `      read byte 10 of ${total}, wrote byte 0 of HDR (not finished), not sending`,
          '      outstanding requests 0 (size 16, max 0), unsent replies 0 (max 0)',
          `    ksock ${sender.id} last msg 0:2 queue 0 of 100`,
          '      read byte 0 of 0, wrote byte 0 of HDR (not finished), not sending',
          '      outstanding requests 0 (size 16, max 0), unsent replies 0 (max 0)',
        ]);
        const next = lines[start + 7];
        assert.ok(
          next === '' || next?.startsWith('dev '),
          `unexpected line after the device: ${next}`,
        );
      },
    );
  });

  section(
    'a fresh bus',
    (it) => {
      it(
        'on a fresh bus the first Ksock on device 0 is 1 and the first message {0,1}',
        '"Message ids", "Ksocks"',
        async (w) => {
          assert.equal(w.device, 0);
          const k = await w.open();
          assert.equal(k.id, 1);
          assert.equal(k.device, 0);
          await k.bind('$.First');
          assert.deepEqual(plainId(await k.announce('$.First')), id(0, 1));
          const got = await nextOf(k);
          assert.deepEqual(plainId(got.id), id(0, 1));
          assert.equal(got.from, 1);
        },
      );
    },
    { freshDevice: false },
  );

  // --- Client features -----------------------------------------------------------------

  section('client: receiving', (it) => {
    it(
      'receive() with a timeout rejects with a TimeoutError; the next message still arrives',
      '"Listeners" (client API)',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.T');
        await rejectsWithTimeout(l.receive({ timeout: 50 }));
        await sender.announce('$.T', 'later');
        assert.equal((await recv(l)).text(), 'later');
      },
    );

    it(
      'receive() rejects with an AbortError whose cause is the signal’s reason; an aborted receive loses no message',
      '"Listeners" (client API)',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.A');
        const reason = new Error('stop waiting');
        await rejectsWithAbort(l.receive({ signal: AbortSignal.abort(reason) }), reason);
        const controller = new AbortController();
        const waiting = l.receive({ signal: controller.signal });
        controller.abort(reason);
        await rejectsWithAbort(waiting, reason);
        await sender.announce('$.A', 'one');
        await sender.announce('$.A', 'two');
        assert.equal((await recv(l)).text(), 'one');
        assert.equal((await recv(l)).text(), 'two');
      },
    );

    it(
      'async iteration yields messages in order; breaking out loses none',
      '"Listeners" (client API)',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.I');
        for (const text of ['1', '2', '3', '4']) await sender.announce('$.I', text);
        const got: string[] = [];
        for await (const m of l) {
          got.push(m.text());
          if (got.length === 3) break;
        }
        assert.deepEqual(got, ['1', '2', '3']);
        assert.equal((await recv(l)).text(), '4');
      },
    );

    it(
      'messages({signal}) ends the loop quietly when the signal aborts',
      '"Listeners" (client API)',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.I');
        const controller = new AbortController();
        const got: string[] = [];
        const loop = (async () => {
          for await (const m of l.messages({ signal: controller.signal })) {
            got.push(m.text());
            if (got.length === 1) controller.abort();
          }
        })();
        await sender.announce('$.I', 'only');
        await loop;
        assert.deepEqual(got, ['only']);
      },
    );

    it('iteration ends quietly when the Ksock is closed', '"Ksocks" (client API)', async (w) => {
      const l = await w.open('r');
      const sender = await w.open();
      await l.bind('$.I');
      const got: string[] = [];
      let gotOne!: () => void;
      const first = new Promise<void>((resolve) => {
        gotOne = resolve;
      });
      const loop = (async () => {
        for await (const m of l) {
          got.push(m.text());
          gotOne();
        }
      })();
      await sender.announce('$.I', 'before close');
      await within(first, 'the first message', WAIT);
      await l.close();
      await within(loop, 'the end of the loop', WAIT);
      assert.deepEqual(got, ['before close']);
    });

    it(
      'pipelining: 1000 announces fired without awaiting each arrive, all, in order',
      '"Message ids"',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.Pipe');
        assert.equal(await l.maxMessages(1000), 1000);
        const got: KbusMessage[] = [];
        const collecting = (async () => {
          for await (const m of l.messages({ signal: AbortSignal.timeout(30_000) })) {
            got.push(m);
            if (got.length === 1000) break;
          }
        })();
        const sends: Promise<MessageId>[] = [];
        for (let i = 0; i < 1000; i++) sends.push(sender.announce('$.Pipe', String(i)));
        const ids = await Promise.all(sends);
        assert.deepEqual(
          ids.map((m) => m.serialNum),
          Array.from({ length: 1000 }, (_, i) => ids[0]!.serialNum + i),
        );
        await collecting;
        assert.equal(got.length, 1000);
        assert.deepEqual(
          got.map((m) => m.text()),
          Array.from({ length: 1000 }, (_, i) => String(i)),
        );
        assert.deepEqual(
          got.map((m) => plainId(m.id)),
          ids.map(plainId),
        );
      },
    );

    it(
      'text and JSON helpers: strings go as UTF-8, jsonData/json() round trip, bytes untouched',
      '"Message content"',
      async (w) => {
        const l = await w.open('r');
        const sender = await w.open();
        await l.bind('$.Data');
        await sender.announce('$.Data', 'héllo wörld ✓');
        await sender.announce('$.Data', jsonData({ a: 1, b: ['x', null], c: { d: true } }));
        const raw = new Uint8Array([0, 1, 2, 255, 254]);
        await sender.announce('$.Data');
        await sender.announce('$.Data', raw);
        const [text, json, empty, bytes] = [
          await recv(l),
          await recv(l),
          await recv(l),
          await recv(l),
        ];
        assert.equal(text.text(), 'héllo wörld ✓');
        assert.deepEqual(json.json(), { a: 1, b: ['x', null], c: { d: true } });
        assert.equal(empty.data.length, 0);
        assert.equal(empty.text(), '');
        assert.deepEqual(new Uint8Array(bytes.data), raw);
      },
    );
  });

  section('client: closing', (it) => {
    it(
      'close() releases the Ksock: operations reject with EBADF, a waiting receive too',
      '"Ksocks" (close)',
      async (w) => {
        const k = await w.open();
        const other = await w.open();
        await k.bind('$.C', { replier: true });
        const waiting = k.receive();
        await k.close();
        assert.equal(k.closed, true);
        await rejectsWith(waiting, 'EBADF', 'the waiting receive');
        await rejectsWith(k.bind('$.After'), 'EBADF', 'bind after close');
        await rejectsWith(k.announce('$.After'), 'EBADF', 'send after close');
        await k.close();
        assert.equal(await other.replier('$.C'), 0, 'closing unbinds');
      },
    );

    it(
      '`await using` closes the Ksock at the end of the scope (the replier is released)',
      '"Requests and Replies" case 2',
      async (w) => {
        const sender = await w.open();
        let pending: Promise<KbusMessage> | undefined;
        let requestId: MessageId | undefined;
        let held: Ksock | undefined;
        let heldId = 0;
        {
          await using r = await w.open();
          held = r;
          heldId = r.id;
          await r.bind('$.Scoped', { replier: true });
          pending = sender.request('$.Scoped', 'q', { timeout: WAIT });
          requestId = await sender.lastSent();
          assert.equal(await r.numMessages(), 1);
        }
        assert.equal(held.closed, true);
        const status = await pending;
        assert.ok(status instanceof Status, status.kind);
        assert.equal(status.name, MessageNames.REPLIER_GONEAWAY);
        assert.deepEqual(plainId(status.inReplyTo), plainId(requestId));
        assert.equal(status.from, heldId);
        assert.equal(await sender.replier('$.Scoped'), 0);
      },
    );
  });
}
