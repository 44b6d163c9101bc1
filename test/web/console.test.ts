/**
 * The console kbusd --http serves, in headless Chromium against a real
 * kbusd: it shows a Ksock that a kbus process bound a moment before and
 * updates its counts when that process sends; the bindings tree; the
 * status messages KBUS generated; a tap's messages; the send form with a
 * request's reply; the back button; a phone-sized screen; a Limpet link,
 * live and then gone. It takes the screenshots in docs/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { Ksock } from '../../src/client/index.js';
import { Background, killStragglers } from '../cli/helpers.js';
import { Cleanup, daemon, linked, startPair } from '../limpet/helpers.js';
import { launchChromium, type RunningBrowser } from '../support/browser.js';
import { ROOT } from '../support/daemon.js';
import { DEADLINE_MS, waitFor } from '../support/wait.js';
import { startWebDaemon, type WebDaemon } from './helpers.js';

const DOCS = join(ROOT, 'docs');

describe('the console', () => {
  let bus: WebDaemon;
  let chromium: RunningBrowser;
  let page: Page;
  let replier: Background;
  const clients: Ksock[] = [];

  before(async () => {
    bus = await startWebDaemon();
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    await page.setViewportSize({ width: 1100, height: 900 });
    // The token the console's forms use, as a user would type it once per tab.
    await page.addInitScript((token) => sessionStorage.setItem('kbus.token', token), bus.token);
  });
  after(async () => {
    await killStragglers();
    for (const c of clients) await c.close().catch(() => {});
    await chromium?.close();
    await bus?.stop();
  });

  async function client(): Promise<Ksock> {
    const k = await Ksock.connect(bus.daemon.socket);
    clients.push(k);
    return k;
  }

  const row = (id: number) => page.locator(`tr.ksock[data-id="${id}"]`);

  test('shows a Ksock a kbus process bound, and its counts when that process sends', async () => {
    replier = new Background(['reply', '$.Cli.Svc', '--', 'cat'], { socket: bus.daemon.socket });
    await page.goto(`${bus.http}/#/`);
    const cliRow = page.locator('tr.ksock', { hasText: '$.Cli.Svc' });
    await cliRow.waitFor({ timeout: DEADLINE_MS });
    const id = Number(await cliRow.getAttribute('data-id'));
    assert.equal(await cliRow.getAttribute('data-sent'), '0');
    assert.match((await cliRow.textContent()) ?? '', /R \$\.Cli\.Svc/);
    // The kbus process says what it is (DESCRIBE), and the table shows it.
    await page.locator('tr.ksock', { hasText: '(kbus reply)' }).waitFor({ timeout: DEADLINE_MS });

    const asker = await client();
    const reply = await asker.request('$.Cli.Svc', 'ping', { timeout: DEADLINE_MS });
    assert.equal(reply.text(), 'ping');
    // The kbus process sent its reply: the console's count follows.
    await page.waitForFunction(
      (id) =>
        document.querySelector(`tr.ksock[data-id="${id}"]`)?.getAttribute('data-sent') === '1',
      id,
      { timeout: DEADLINE_MS },
    );
    assert.equal(await row(asker.id).getAttribute('data-received'), '1');

    // A request whose replier goes away unanswered: KBUS says GoneAway, and the console shows it.
    const gone = await client();
    await gone.bind('$.Cli.Gone', { replier: true });
    const pending = asker.request('$.Cli.Gone', 'anyone?', { timeout: DEADLINE_MS });
    await waitFor(async () => (await gone.numMessages()) === 1, 'the request queued');
    await gone.close();
    assert.equal((await pending).name, '$.KBUS.Replier.GoneAway');
    await page
      .locator('.status-counts li[data-name="$.KBUS.Replier.GoneAway"]')
      .waitFor({ timeout: DEADLINE_MS });

    const listener = await client();
    await listener.bind('$.Sensors.*');
    for (let i = 0; i < 5; i++) await asker.announce('$.Sensors.Kitchen.Temperature', `${20 + i}`);
    await row(listener.id).waitFor({ timeout: DEADLINE_MS });
    await page.screenshot({ path: join(DOCS, 'console.png'), fullPage: true });
  });

  test('the bindings as a tree of names, with who listens and who replies', async () => {
    await page.click('nav a[href="#/bindings"]');
    const svc = page.locator('li[data-name="$.Cli.Svc"]');
    await svc.waitFor({ timeout: DEADLINE_MS });
    assert.match((await svc.textContent()) ?? '', /replier \d+/);
    assert.match(
      (await page.locator('li[data-name="$.Sensors.*"]').textContent()) ?? '',
      /listeners \d+/,
    );
  });

  test('a tap shows the matching messages as they pass', async () => {
    await page.click('nav a[href="#/tap"]');
    await page.fill('#tap-pattern', '$.Sensors.*');
    await page.click('#tap-start');
    await page.locator('#tap-info', { hasText: 'tapping' }).waitFor({ timeout: DEADLINE_MS });
    const sender = await client();
    await sender.announce('$.Sensors.Door', 'open');
    await sender.announce('$.Other', 'not tapped');
    await sender.announce('$.Sensors.Door', 'closed');
    await page.locator('#tap-messages li', { hasText: 'closed' }).waitFor({ timeout: DEADLINE_MS });
    const shown = await page.locator('#tap-messages li').allTextContents();
    assert.equal(shown.length, 2);
    assert.match(shown[0]!, /\$\.Sensors\.Door.*"closed"/);
    assert.match(shown[1]!, /\$\.Sensors\.Door.*"open"/);
    await page.screenshot({ path: join(DOCS, 'console-tap.png') });
  });

  test('the send form sends a request and shows its reply', async () => {
    await page.click('nav a[href="#/send"]');
    await page.fill('#send-name', '$.Cli.Svc');
    await page.fill('#send-data', 'from the form');
    await page.selectOption('#send-kind', 'request');
    await page.click('#send-go');
    const result = page.locator('#send-result b[data-kind="reply"]');
    await result.waitFor({ timeout: DEADLINE_MS });
    assert.match(
      (await page.locator('#send-result').textContent()) ?? '',
      /reply \$\.Cli\.Svc .*"from the form"/,
    );
    // An announcement nobody listens to is sent all the same.
    await page.selectOption('#send-kind', 'announce');
    await page.fill('#send-name', '$.Nobody.Listens');
    await page.click('#send-go');
    await page
      .locator('#send-result', { hasText: 'sent as message' })
      .waitFor({ timeout: DEADLINE_MS });
  });

  test('the back button goes back through the views', async () => {
    await page.goBack();
    assert.match(page.url(), /#\/tap$/);
    await page.locator('#tap-pattern').waitFor({ timeout: DEADLINE_MS });
    await page.goBack();
    assert.match(page.url(), /#\/bindings$/);
    await page.locator('#bindings').waitFor({ timeout: DEADLINE_MS });
    await page.goBack();
    await page.locator('#devices').waitFor({ timeout: DEADLINE_MS });
  });

  test('fits a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${bus.http}/#/`);
    await page.locator('tr.ksock').first().waitFor({ timeout: DEADLINE_MS });
    // Wide tables scroll inside their card; the page itself does not scroll sideways.
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    );
    assert.ok(overflow <= 0, `the page is ${overflow} px wider than the screen`);
    await page.screenshot({ path: join(DOCS, 'console-phone.png') });
    await replier.stop();
  });

  test('a Limpet link appears with its peer and state, and stays marked gone once it goes', async () => {
    const cleanup = new Cleanup();
    try {
      const far = await daemon(cleanup);
      const pair = await startPair(
        bus.daemon,
        far,
        { kind: 'tcp', serverId: 1, clientId: 2 },
        cleanup,
      );
      const { nearLimpet } = await linked(bus.daemon, far, cleanup);
      await page.setViewportSize({ width: 1100, height: 900 });
      await page.goto(`${bus.http}/#/`);
      const link = page.locator(`#limpets tr.limpet[data-ksock="${nearLimpet}"]`);
      await link.waitFor({ timeout: DEADLINE_MS });
      assert.equal(await link.getAttribute('data-peer'), '2');
      assert.equal(await link.getAttribute('data-live'), 'true');
      assert.match((await link.textContent()) ?? '', /server 127\.0\.0\.1:\d+ \(\$\.\*\)up \d+ s/);
      assert.match((await row(nearLimpet).textContent()) ?? '', /\(limpet\)/);
      await page.locator('#limpets').screenshot({ path: join(DOCS, 'console-limpets.png') });
      const metrics = await (
        await fetch(`${bus.http}/metrics`, { headers: { authorization: `Bearer ${bus.token}` } })
      ).text();
      assert.match(metrics, /^kbus_limpet_links\{device="0"\} 1$/m);

      await pair.client.kill();
      await page
        .locator(`#limpets tr.limpet[data-ksock="${nearLimpet}"][data-live="false"]`)
        .waitFor({ timeout: DEADLINE_MS });
      assert.match((await link.textContent()) ?? '', /gone \d+ s ago/);
    } finally {
      await cleanup.run();
    }
  });
});
