/**
 * kbusd tells systemd it is ready (Type=notify): with NOTIFY_SOCKET set, a
 * READY=1 datagram arrives there once the socket exists. The receiving end
 * is a Unix datagram socket made by python3, as systemd would make it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { tempDir } from '../support/daemon.js';
import { type Kbusd, runKbusd, waitFor } from './helpers.js';

/** Prints one JSON line per datagram: its text, and whether the kbusd socket existed then. */
const RECEIVER = `
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps({"bound": True}), flush=True)
while True:
    data = s.recv(65536)  # passed descriptors (systemd-notify's barrier) are closed
    print(json.dumps({"data": data.decode("utf-8", "replace"),
                      "socketExists": os.path.exists(sys.argv[2])}), flush=True)
`;

function has(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const dirs: { remove: () => void }[] = [];
const daemons: Kbusd[] = [];
after(async () => {
  for (const daemon of daemons) await daemon.kill();
  for (const dir of dirs) dir.remove();
});

test('with NOTIFY_SOCKET set, kbusd sends READY=1 once its socket exists', async (t) => {
  if (!has('python3')) {
    t.skip('python3 is needed to make the datagram socket');
    return;
  }
  const dir = tempDir('kbusd-notify-');
  dirs.push(dir);
  const notifySocket = join(dir.path, 'notify');
  const socket = join(dir.path, 'kbus.sock');
  const receiver = spawn('python3', ['-c', RECEIVER, notifySocket, socket], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    receiver.kill('SIGKILL');
  });
  const lines: { bound?: boolean; data?: string; socketExists?: boolean }[] = [];
  let partial = '';
  receiver.stdout.setEncoding('utf8');
  receiver.stdout.on('data', (text: string) => {
    partial += text;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const part of parts) lines.push(JSON.parse(part));
  });
  await waitFor(() => lines.some((l) => l.bound), 'the datagram socket to be bound');

  const withTool = has('systemd-notify');
  t.diagnostic(withTool ? 'systemd-notify present' : 'no systemd-notify: expecting a warning');
  const daemon = runKbusd(['--socket', socket], { ...process.env, NOTIFY_SOCKET: notifySocket });
  daemons.push(daemon);
  await daemon.serving();
  if (!withTool) {
    assert.match(daemon.stderr(), /^kbusd: cannot tell systemd it is ready/m);
    return;
  }
  await waitFor(
    () => lines.some((l) => l.data?.split('\n').includes('READY=1')),
    'READY=1 on the notify socket',
  );
  const ready = lines.find((l) => l.data?.split('\n').includes('READY=1'))!;
  assert.equal(ready.socketExists, true, 'the socket existed when READY=1 was sent');
  assert.ok(
    ready.data!.split('\n').includes(`MAINPID=${daemon.process.pid}`),
    `MAINPID is kbusd: ${ready.data}`,
  );
  assert.doesNotMatch(daemon.stderr(), /cannot tell systemd/);
});

test('without NOTIFY_SOCKET, nothing is sent and nothing is said', async () => {
  const dir = tempDir('kbusd-notify-');
  dirs.push(dir);
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  const daemon = runKbusd(['--socket', join(dir.path, 'kbus.sock')], env);
  daemons.push(daemon);
  await daemon.serving();
  assert.doesNotMatch(daemon.stderr(), /systemd/);
});
