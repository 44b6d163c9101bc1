/**
 * kbus/browser in headless Chromium against a real kbusd over WebSocket:
 * the page's Ksock receives an announcement sent from Node, answers a
 * request sent by the kbus command line, asks BusInfo for the bindings,
 * and is refused without a valid token. The module is the one kbusd
 * --http serves under /js/browser/, imported as a plain page would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Ksock } from '../../src/client/index.js';
import { kbus } from '../cli/helpers.js';
import { launchChromium, type RunningBrowser } from '../support/browser.js';
import { DEADLINE_MS } from '../support/wait.js';
import { startWebDaemon, type WebDaemon } from './helpers.js';

type Browser = typeof import('../../src/browser/index.js');
/** Where kbusd --http serves the browser client (a page imports it from there). */
const MODULE = '/js/browser/index.js';

describe('kbus/browser in Chromium', () => {
  let bus: WebDaemon;
  let chromium: RunningBrowser;
  let page: Page;
  const clients: Ksock[] = [];

  before(async () => {
    bus = await startWebDaemon();
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    // Any page of kbusd's origin will do: the test imports the module into it.
    await page.goto(`${bus.http}/healthz`);
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await chromium?.close();
    await bus?.stop();
  });

  test("a page's Ksock receives an announcement sent from Node", async () => {
    const id = await page.evaluate(
      async ({ ws, token, MODULE }) => {
        const { Ksock } = (await import(MODULE)) as Browser;
        const ksock = await Ksock.connect(ws, { token });
        await ksock.bind('$.Web.Hello');
        (globalThis as Record<string, unknown>).listener = ksock;
        return ksock.id;
      },
      { ws: bus.ws, token: bus.token, MODULE },
    );
    assert.ok(id > 0);
    const node = await Ksock.connect(bus.daemon.socket);
    clients.push(node);
    await node.announce('$.Web.Hello', 'from node');
    const got = await page.evaluate(async (timeout) => {
      type K = {
        receive(o: object): Promise<{ kind: string; name: string; from: number; text(): string }>;
      };
      const m = await ((globalThis as Record<string, unknown>).listener as K).receive({ timeout });
      return { kind: m.kind, name: m.name, from: m.from, text: m.text() };
    }, DEADLINE_MS);
    assert.deepEqual(got, {
      kind: 'announcement',
      name: '$.Web.Hello',
      from: node.id,
      text: 'from node',
    });
  });

  test('a page answers a request sent by the kbus command line', async () => {
    await page.evaluate(
      async ({ ws, token, MODULE }) => {
        const { Ksock } = (await import(MODULE)) as Browser;
        const ksock = await Ksock.connect(ws, { token });
        await ksock.bind('$.Web.Echo', { replier: true });
        void (async () => {
          for await (const m of ksock) {
            if (m.wantsYouToReply) await ksock.replyTo(m, `page says: ${m.text()}`);
          }
        })();
      },
      { ws: bus.ws, token: bus.token, MODULE },
    );
    const done = await kbus(['request', '$.Web.Echo', 'hello'], { socket: bus.daemon.socket });
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /page says: hello/);
  });

  test('BusInfo over WebSocket reads the bindings without opening a Ksock', async () => {
    const text = await page.evaluate(
      async ({ ws, token, MODULE }) => {
        const { BusInfo } = (await import(MODULE)) as Browser;
        const info = await BusInfo.connect(ws, { token });
        const [devices, bindings] = [await info.devices(), await info.bindings()];
        await info.close();
        return { devices, bindings };
      },
      { ws: bus.ws, token: bus.token, MODULE },
    );
    assert.equal(text.devices, 1);
    assert.match(text.bindings, /R {2}\$\.Web\.Echo/);
    assert.match(text.bindings, /L {2}\$\.Web\.Hello/);
  });

  test('a page without a valid token is refused', async () => {
    const codes = await page.evaluate(
      async ({ ws, MODULE }) => {
        const { Ksock } = (await import(MODULE)) as Browser;
        const attempt = async (options: object) => {
          try {
            await Ksock.connect(ws, options);
            return 'opened';
          } catch (err) {
            return (err as { code?: string }).code;
          }
        };
        return { wrong: await attempt({ token: 'not-the-token' }), none: await attempt({}) };
      },
      { ws: bus.ws, MODULE },
    );
    // A token the daemon does not know fails AUTH; no token leaves an anonymous client the policy does not allow to open.
    assert.deepEqual(codes, { wrong: 'EACCES', none: 'EPERM' });
  });
});
