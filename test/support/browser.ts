/**
 * Test support: Debian's headless Chromium driven by playwright-core, with
 * a fresh profile and nothing that reaches the network. The tests need
 * /usr/bin/chromium (CI installs it; see README "Browser tests").
 */
import { existsSync } from 'node:fs';
import { type BrowserContext, chromium } from 'playwright-core';
import { tempDir } from './daemon.js';

export const CHROMIUM = process.env.KBUS_CHROMIUM ?? '/usr/bin/chromium';

const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface RunningBrowser {
  /** A fresh profile's context: open pages with context.newPage(). */
  readonly context: BrowserContext;
  close(): Promise<void>;
}

/** Launches Chromium headless with a fresh profile, or fails saying how to install it. */
export async function launchChromium(): Promise<RunningBrowser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the browser tests need Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set KBUS_CHROMIUM to its path`,
    );
  }
  const profile = tempDir('kbus-chromium-');
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
  });
  return {
    context,
    close: async () => {
      await context.close();
      profile.remove();
    },
  };
}
