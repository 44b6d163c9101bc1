/**
 * kbusd --cluster at start: NATS without a JetStream key-value store yet
 * (a cluster electing its leader, a server restarted with -js) is waited
 * for, saying so, and joined once it is there.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Ksock } from '../../src/client/index.js';
import { KBUSD, tempDir } from '../support/daemon.js';
import { waitFor } from '../support/wait.js';
import { Stack } from './nats.js';

const stack = new Stack();
after(() => stack.stop());

test('kbusd waits for JetStream at start, and joins once it is there', async () => {
  const nats = await stack.natsWithoutJetStream();
  const dir = tempDir('kbusd-wait-');
  stack.add(() => dir.remove());
  const socket = join(dir.path, 'kbus.sock');
  const child = spawn(
    process.execPath,
    [
      KBUSD,
      '--socket',
      socket,
      '--cluster',
      nats.url,
      '--bus-id',
      '1',
      '--cluster-timeout',
      '3000',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  stack.add(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr += text;
  });
  const alive = () => {
    assert.equal(child.exitCode, null, `kbusd exited: ${stderr}`);
    return true;
  };
  await waitFor(
    () => alive() && stderr.includes('waiting for JetStream'),
    () => `kbusd to say it waits: ${stderr}`,
  );
  assert.doesNotMatch(stderr, /serving/);

  await stack.restartWithJetStream(nats);
  await waitFor(
    () => alive() && stderr.includes('serving'),
    () => `kbusd to serve: ${stderr}`,
  );
  assert.match(stderr, /joined the cluster at .* as bus 1/);
  await using ksock = await Ksock.connect(socket);
  await ksock.bind('$.Joined', { replier: true });
});
