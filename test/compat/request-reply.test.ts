/**
 * Three processes in C under the layer (replier, requester, listener)
 * beside the same three through the TypeScript client (programs/peer.ts),
 * on one kbusd, with a TypeScript listener watching both: it must see the
 * same messages, and the C listener must print what the TypeScript one does.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import type { KbusMessage } from '../../src/client/messages.js';
import { type Finished, killStragglers } from '../cli/helpers.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { within } from '../support/wait.js';
import {
  backgroundUnderLayer,
  checkPrerequisites,
  PROGRAM_MS,
  Programs,
  tsPeer,
  underLayer,
  type Watched,
} from './support.js';

const NAME = '$.Compat.Echo';
const REQUESTS = 5;
/** Each request and its reply. */
const SEEN = REQUESTS * 2;

function line(m: KbusMessage): string {
  const kind = m.inReplyTo.serialNum !== 0 ? 'reply' : m.kind;
  return `${kind} ${m.name} ${Buffer.from(m.data).toString()}`;
}

function assertClean(result: Finished, what: string): void {
  assert.equal(
    result.code,
    0,
    `${what} exited ${result.code ?? result.signal}: ${result.stdout} ${result.stderr}`,
  );
}

describe('request/reply: C under the layer beside the TypeScript client', () => {
  let daemon: RunningDaemon;
  let programs: Programs;
  let peer: string;
  let watcher: Ksock;

  before(async () => {
    checkPrerequisites();
    programs = new Programs();
    peer = programs.compile('peer');
    daemon = await startDaemon();
    watcher = await Ksock.connect({ socket: daemon.socket, mode: 'r' });
    await watcher.bind(NAME);
  });

  after(async () => {
    await watcher?.close();
    await killStragglers();
    await daemon?.stop();
    programs?.remove();
  });

  /** What the watcher sees of one exchange. */
  async function watched(): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < SEEN; i++) seen.push(line(await watcher.receive({ timeout: PROGRAM_MS })));
    return seen;
  }

  /** Runs listener and replier (started by `start`), then the requester; returns what each saw. */
  async function exchange(
    start: (role: string, count: number) => Watched,
    requester: () => Promise<Finished>,
  ): Promise<{ listener: string[]; watcher: string[] }> {
    const listener = start('listener', SEEN);
    const replier = start('replier', REQUESTS);
    await listener.waitForOutput((out) => out.startsWith('ready\n'), 'the listener to bind');
    await replier.waitForOutput((out) => out.startsWith('ready\n'), 'the replier to bind');
    const seen = watched();
    assertClean(await requester(), 'the requester');
    const [listened, replied] = await Promise.all([listener.exit(), replier.exit()]);
    assertClean(listened, 'the listener');
    assertClean(replied, 'the replier');
    return {
      listener: listened.stdout.split('\n').slice(1, -1),
      watcher: await within(seen, 'the watcher'),
    };
  }

  test('the same messages, seen the same way', async () => {
    const c = await exchange(
      (role, count) => backgroundUnderLayer(daemon.socket, [peer, role, NAME, String(count)]),
      () => underLayer(daemon.socket, [peer, 'requester', NAME, String(REQUESTS)]),
    );
    const ts = await exchange(
      (role, count) => tsPeer(daemon.socket, [role, NAME, String(count)]),
      () => tsPeer(daemon.socket, ['requester', NAME, String(REQUESTS)]).exit(),
    );
    const expected = Array.from({ length: REQUESTS }, (_, i) => [
      `request ${NAME} req ${i}`,
      `reply ${NAME} re:req ${i}`,
    ]).flat();
    assert.deepEqual(c.watcher, expected);
    assert.deepEqual(ts.watcher, expected);
    assert.deepEqual(c.listener, expected);
    assert.deepEqual(ts.listener, expected);
  });
});
