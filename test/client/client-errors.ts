/**
 * The client's own errors, registered for one transport like the
 * conformance suite: data that is neither text nor bytes, timeouts and
 * aborts in every call that waits, options checked before anything is
 * opened, and what a Ksock says after close().
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AbortError, jsonData, type Ksock, TimeoutError } from '../../src/client/index.js';
import { KbusError, Poll } from '../../src/wire/index.js';
import type { Bus, BusFactory } from './conformance.js';

const WAIT = 5000;

/** Asserts that `fn` throws or rejects with a TypeError whose message includes every one of `parts`. */
async function rejectsType(fn: () => Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof TypeError, String(err));
    for (const part of parts) assert.ok(err.message.includes(part), err.message);
    return true;
  });
}

export function clientErrors(label: string, start: BusFactory): void {
  describe(`${label}: client errors`, () => {
    let bus: Bus;
    const open: Ksock[] = [];
    const ksock = async (mode: 'r' | 'w' | 'rw' = 'rw') => {
      const k = await bus.open({ mode });
      open.push(k);
      return k;
    };
    // Over the embedded transport nothing else holds the event loop open.
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    before(async () => {
      keepAlive = setInterval(() => {}, 60_000);
      bus = await start();
    });
    after(async () => {
      for (const k of open) await k.close();
      await bus.stop();
      clearInterval(keepAlive);
    });

    test('bytes in any unambiguous form are sent as they are', async () => {
      const l = await ksock('r');
      const sender = await ksock();
      await l.bind('$.Errors.Bytes');
      const bytes = [1, 2, 3, 4];
      const buffer = new Uint8Array(bytes).buffer;
      for (const data of [
        buffer,
        new Uint16Array(new Uint8Array(bytes).buffer),
        new DataView(buffer),
        Buffer.from(bytes),
        // A view of part of a larger buffer sends only its own bytes.
        new Uint8Array([9, 1, 2, 3, 4, 9]).subarray(1, 5),
      ]) {
        await sender.announce('$.Errors.Bytes', data);
        const got = await l.receive({ timeout: WAIT });
        assert.deepEqual([...got.data], bytes, data.constructor.name);
      }
    });

    test('data that is neither text nor bytes is refused, saying how to send JSON', async () => {
      const sender = await ksock();
      for (const data of [42, { a: 1 }, true, null, [1, 2]]) {
        await rejectsType(
          // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
          async () => sender.announce('$.Errors.Data', data as any),
          'jsonData(value)',
        );
        await rejectsType(
          // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
          async () => sender.request('$.Errors.Data', data as any),
          'jsonData(value)',
        );
      }
      // jsonData is the way, and works.
      const l = await ksock('r');
      await l.bind('$.Errors.Json');
      await sender.announce('$.Errors.Json', jsonData({ a: 1 }));
      assert.deepEqual((await l.receive({ timeout: WAIT })).json(), { a: 1 });
    });

    test('a name that is not a string, or send() of what is not a message, is a TypeError, and the Ksock carries on', async () => {
      const sender = await ksock();
      const replier = await ksock();
      await replier.bind('$.Errors.Name', { replier: true });
      // A name of the wrong type once went out as a frame of no length, and the
      // connection was lost on the next response.
      for (const name of [{ name: '$.Errors.Name' }, 42, undefined, null, ['$.Errors.Name']]) {
        // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
        const bad = name as any;
        await rejectsType(async () => sender.request(bad, 'x'), 'request()', 'a string');
        await rejectsType(async () => sender.announce(bad, 'x'), 'announce()', 'a string');
        await rejectsType(async () => sender.send({ name: bad }), 'send()', 'a string');
        await rejectsType(async () => sender.bind(bad), 'bind()', 'a string');
        await rejectsType(async () => sender.unbind(bad), 'unbind()', 'a string');
        await rejectsType(async () => sender.replier(bad), 'replier()', 'a string');
        assert.throws(() => sender.post({ name: bad }, () => {}), TypeError);
      }
      for (const notMessage of ['$.Errors.Name', 42, undefined, null]) {
        // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
        await rejectsType(async () => sender.send(notMessage as any), 'announce(name, data)');
      }
      for (const wrong of [42, 'bytes', null, { length: 3 }, [1, 2]]) {
        // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
        const bad = wrong as any;
        // WRITE's bytes of the wrong type once broke the connection too.
        await rejectsType(async () => sender.write(bad), 'write()', 'Uint8Array');
        await rejectsType(async () => sender.replyTo(bad, 'x'), 'replyTo()', 'the request');
        assert.throws(
          () => sender.post({ name: '$.Errors.Name' }, bad),
          /post\(\) takes a function/,
        );
      }
      for (const options of [42, 'fast', null, true]) {
        // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
        const bad = options as any;
        await rejectsType(async () => sender.request('$.Errors.Name', 'x', bad), 'request()');
        await rejectsType(async () => sender.announce('$.Errors.Name', 'x', bad), 'announce()');
        await rejectsType(async () => sender.receive(bad), 'receive()', 'options');
        assert.throws(() => sender.messages(bad), /messages\(\): options are an object/);
      }
      // Nothing reached the bus, and both Ksocks still work.
      assert.equal(await replier.numMessages(), 0);
      const pending = sender.request('$.Errors.Name', 'still here', { timeout: WAIT });
      const request = await replier.receive({ timeout: WAIT });
      await replier.replyTo(request, request.data);
      assert.equal((await pending).text(), 'still here');
      assert.equal(sender.closed, false);
    });

    test('a request() timeout says what was waited for and how long', async () => {
      const replier = await ksock();
      const sender = await ksock();
      await replier.bind('$.Errors.Slow', { replier: true });
      await assert.rejects(sender.request('$.Errors.Slow', 'q', { timeout: 30 }), (err) => {
        assert.ok(err instanceof TimeoutError, String(err));
        assert.equal(err.code, 'KBUS_TIMEOUT');
        assert.equal(err.timeout, 30);
        assert.ok(err.message.includes('$.Errors.Slow'), err.message);
        assert.ok(err.message.includes('30 ms'), err.message);
        return true;
      });
    });

    test('waitReady() times out and aborts with the same errors as receive()', async () => {
      const l = await ksock('r');
      await l.bind('$.Errors.Ready');
      await assert.rejects(l.waitReady(Poll.IN, { timeout: 30 }), (err) => {
        assert.ok(err instanceof TimeoutError, String(err));
        return true;
      });
      const reason = new Error('stop');
      const controller = new AbortController();
      const waiting = l.waitReady(Poll.IN, { signal: controller.signal });
      controller.abort(reason);
      await assert.rejects(waiting, (err) => {
        assert.ok(err instanceof AbortError, String(err));
        assert.equal(err.code, 'KBUS_ABORTED');
        assert.equal(err.cause, reason);
        return true;
      });
    });

    test('a timeout that is not a number of milliseconds is a TypeError', async () => {
      const l = await ksock('r');
      // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
      await rejectsType(() => l.receive({ timeout: '5s' as any }), 'timeout', 'milliseconds');
      await rejectsType(() => l.request('$.Errors.T', 'q', { timeout: -1 }), 'milliseconds');
    });

    test('open options that are unknown or of the wrong type are a TypeError naming them', async () => {
      // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
      await rejectsType(() => bus.open({ mode: 'x' as any }), "'mode'", "'rw'");
      // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
      await rejectsType(() => bus.open({ device: '1' as any }), "'device'", 'number');
      // biome-ignore lint/suspicious/noExplicitAny: what a JavaScript caller may pass
      await rejectsType(() => bus.open({ devcie: 1 } as any), "'devcie'");
    });

    test('a request with no replier says that case only, naming the name', async () => {
      const sender = await ksock();
      await assert.rejects(sender.request('$.Errors.Nobody', 'q'), (err: unknown) => {
        assert.ok(err instanceof KbusError, String(err));
        assert.equal(err.code, 'EADDRNOTAVAIL');
        assert.ok(err.message.includes('$.Errors.Nobody'), err.message);
        assert.doesNotMatch(err.message, /Reply/, 'nothing about replies');
        return true;
      });
    });

    test('a reply to a requester that has gone says that case only', async () => {
      const replier = await ksock();
      const requester = await ksock();
      await replier.bind('$.Errors.Gone', { replier: true });
      void requester.request('$.Errors.Gone', 'q').catch(() => {});
      const request = await replier.receive({ timeout: WAIT });
      await requester.close();
      await assert.rejects(replier.replyTo(request, 'a'), (err: unknown) => {
        assert.ok(err instanceof KbusError, String(err));
        assert.equal(err.code, 'EADDRNOTAVAIL');
        assert.ok(err.message.includes('no longer connected'), err.message);
        assert.doesNotMatch(err.message, /no replier/, 'nothing about requests');
        return true;
      });
    });

    test('a bad name names the name and the rule it breaks', async () => {
      const k = await ksock();
      const cases: [() => Promise<unknown>, string, string[]][] = [
        [() => k.bind('$.a..b'), 'EBADMSG', ['$.a..b', 'empty word']],
        [() => k.bind('Sensor.Temp'), 'EBADMSG', ['Sensor.Temp', "'$.'"]],
        [() => k.bind('$.a-b'), 'EBADMSG', ['$.a-b', '"-"']],
        [() => k.announce('$.a.*'), 'EBADMSG', ['$.a.*', 'wildcard']],
        [() => k.announce(''), 'EINVAL', ['empty']],
        [() => k.bind(`$.${'x'.repeat(1000)}`), 'ENAMETOOLONG', ['1002 characters', '1000']],
      ];
      for (const [call, code, parts] of cases) {
        await assert.rejects(call, (err: unknown) => {
          assert.ok(err instanceof KbusError, String(err));
          assert.equal(err.code, code, err.message);
          for (const part of parts) assert.ok(err.message.includes(part), err.message);
          assert.doesNotMatch(err.message, /Something went wrong/);
          return true;
        });
      }
    });

    test('a message too large for the bus gives its size and the limit', async () => {
      const k = await ksock();
      const data = new Uint8Array(1024 * 1024 + 2048);
      await assert.rejects(k.announce('$.Errors.Big', data), (err: unknown) => {
        assert.ok(err instanceof KbusError, String(err));
        assert.equal(err.code, 'EMSGSIZE');
        assert.ok(err.message.includes('--max-message-size'), err.message);
        assert.ok(err.message.includes('maxMessageSize'), err.message);
        return true;
      });
      // The Ksock is still usable.
      assert.equal(k.closed, false);
      await k.bind('$.Errors.After');
    });

    test('after close(): closeReason is "closed", calls fail with EBADF, iteration ends', async () => {
      const k = await ksock();
      await k.bind('$.Errors.Closed');
      const waiting = k.receive();
      const loop = (async () => {
        for await (const _ of k) return 'message';
        return 'ended';
      })();
      await k.close();
      assert.equal(k.closed, true);
      assert.equal(k.closeReason, 'closed');
      await assert.rejects(waiting, (err) => err instanceof KbusError && err.code === 'EBADF');
      await assert.rejects(
        k.bind('$.X'),
        (err) => err instanceof KbusError && err.code === 'EBADF',
      );
      assert.equal(await loop, 'ended');
    });
  });
}
