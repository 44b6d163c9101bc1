/**
 * `kbus request` as a real process against a real kbusd: the reply line and
 * its JSON, no replier (99), --timeout (110), a status message instead of a
 * reply (exit 1), and stateful requests with --to (EPIPE with a wrong id).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type KbusMessage, Ksock } from '../../src/client/index.js';
import { Flags } from '../../src/wire/index.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import {
  assertExit,
  assertNoColour,
  Background,
  DEADLINE_MS,
  kbus,
  killStragglers,
  listening,
  waitFor,
} from './helpers.js';

describe('kbus request', () => {
  let daemon: RunningDaemon;
  let socket: string;
  const clients: Ksock[] = [];
  const stops: AbortController[] = [];

  before(async () => {
    daemon = await startDaemon();
    socket = daemon.socket;
  });

  after(async () => {
    for (const stop of stops) stop.abort();
    await killStragglers();
    for (const client of clients) await client.close().catch(() => {});
    await daemon.stop();
  });

  async function client(): Promise<Ksock> {
    const ksock = await Ksock.connect({ socket });
    clients.push(ksock);
    return ksock;
  }

  /** A replier (in this process) answering each request with its data in upper case. */
  async function upperReplier(name: string): Promise<{ ksock: Ksock; seen: KbusMessage[] }> {
    const ksock = await client();
    await ksock.bind(name, { replier: true });
    const stop = new AbortController();
    stops.push(stop);
    const seen: KbusMessage[] = [];
    void (async () => {
      for await (const m of ksock.messages({ signal: stop.signal })) {
        seen.push(m);
        if (m.kind === 'request' && m.wantsYouToReply)
          await ksock.replyTo(m, m.text().toUpperCase());
      }
    })().catch(() => {});
    return { ksock, seen };
  }

  test('prints the reply as one line and exits 0', async () => {
    const { ksock: replier, seen } = await upperReplier('$.Req.Upper');
    const result = await kbus(['request', '$.Req.Upper', 'hello'], { socket });
    assertExit(result, 0);
    assert.equal(result.stderr, '');
    assertNoColour(result.stdout);
    const request = seen.find((m) => m.kind === 'request')!;
    assert.ok(request, 'the replier got the request');
    assert.equal(request.text(), 'hello');
    assert.equal(request.flags, Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY);
    const line = new RegExp(
      `^reply {8}\\{0,(\\d+)\\} \\$\\.Req\\.Upper from ${replier.id} to ${request.from} in-reply-to \\{0,${request.id.serialNum}\\} data "HELLO"\\n$`,
    );
    assert.match(result.stdout, line);
  });

  test('--json prints an object: kind reply, data, inReplyTo', async () => {
    const { ksock: replier, seen } = await upperReplier('$.Req.Json');
    const result = await kbus(['--json', 'request', '$.Req.Json', 'json please'], { socket });
    assertExit(result, 0);
    assert.equal(result.stdout.split('\n').length, 2, 'one line');
    const reply = JSON.parse(result.stdout) as Record<string, unknown>;
    const request = seen.find((m) => m.kind === 'request')!;
    assert.equal(reply.kind, 'reply');
    assert.equal(reply.name, '$.Req.Json');
    assert.equal(reply.data, 'JSON PLEASE');
    assert.equal(reply.dataHex, Buffer.from('JSON PLEASE').toString('hex'));
    assert.deepEqual(reply.inReplyTo, request.id);
    assert.equal(reply.from, replier.id);
    assert.equal(reply.to, request.from);
    assert.deepEqual(reply.flagNames, []);
  });

  test('request data from standard input and from --hex', async () => {
    const { seen } = await upperReplier('$.Req.Data');
    const piped = await kbus(['request', '$.Req.Data'], { socket, input: 'from stdin' });
    assertExit(piped, 0);
    assert.match(piped.stdout, / data "FROM STDIN"\n$/);
    const hex = await kbus(['request', '--hex', '$.Req.Data', '616263'], { socket });
    assertExit(hex, 0);
    assert.match(hex.stdout, / data "ABC"\n$/);
    assert.deepEqual(
      seen.filter((m) => m.kind === 'request').map((m) => m.text()),
      ['from stdin', 'abc'],
    );
  });

  test('no replier exits 99 (EADDRNOTAVAIL) with the KBUS meaning on stderr', async () => {
    const result = await kbus(['request', '$.Req.Nobody', 'x'], { socket });
    assertExit(result, 99);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /EADDRNOTAVAIL/);
    assert.match(result.stderr, /no replier/);
    assertNoColour(result.stderr);
  });

  test('--timeout with a replier that never answers exits 110', async () => {
    const silent = await client();
    await silent.bind('$.Req.Silent', { replier: true });
    const result = await kbus(['request', '--timeout', '0.5', '$.Req.Silent', 'anyone?'], {
      socket,
    });
    assertExit(result, 110);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /timed out/);
    // The request did reach the replier.
    const request = await silent.receive({ timeout: DEADLINE_MS });
    assert.equal(request.text(), 'anyone?');
    assert.equal(request.wantsYouToReply, true);
  });

  test('a replier that does answer within --timeout: exit 0', async () => {
    await upperReplier('$.Req.InTime');
    const result = await kbus(['request', '-t', '30', '$.Req.InTime', 'quick'], { socket });
    assertExit(result, 0);
    assert.match(result.stdout, /^reply .* data "QUICK"\n$/);
  });

  test('--timeout that is not a positive number exits 64', async () => {
    for (const value of ['0', '-1', 'soon']) {
      const result = await kbus(['request', '--timeout', value, '$.Req.Bad', 'x'], { socket });
      assertExit(result, 64, `--timeout ${value}`);
    }
  });

  test('a status message instead of a reply (the replier killed after reading): printed, exit 1', async () => {
    const replier = await listening(socket, ['--replier'], ['$.Req.Dies'], true);
    const requester = new Background(['request', '$.Req.Dies', 'ping'], { socket });
    await replier.waitForOutput(
      (out) => out.includes('$.Req.Dies'),
      'the replier to print the request',
    );
    assert.match(
      replier.stdout,
      /^request .* flags WANT_A_REPLY\|WANT_YOU_TO_REPLY data "ping"\n$/,
    );
    const killed = await replier.stop('SIGKILL');
    assert.equal(killed.signal, 'SIGKILL');
    const result = await requester.exit();
    assertExit(result, 1);
    // It read the request and never replied: KBUS says $.KBUS.Replier.Ignored.
    assert.match(
      result.stdout,
      /^status {7}\{0,\d+\} \$\.KBUS\.Replier\.Ignored from \d+ to \d+ in-reply-to \{0,\d+\} flags SYNTHETIC\n$/,
    );
    assertNoColour(result.stdout, result.stderr);
  });

  test('a status message with --json has kind status (exit 1)', async () => {
    const replier = await listening(socket, ['--replier'], ['$.Req.DiesJson'], true);
    const requester = new Background(['--json', 'request', '$.Req.DiesJson', 'ping'], { socket });
    await replier.waitForOutput(
      (out) => out.includes('$.Req.DiesJson'),
      'the replier to print the request',
    );
    await replier.stop('SIGKILL');
    const result = await requester.exit();
    assertExit(result, 1);
    const status = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.equal(status.kind, 'status');
    assert.equal(status.name, '$.KBUS.Replier.Ignored');
    assert.deepEqual(status.flagNames, ['SYNTHETIC']);
  });

  test('--to: a stateful request to the right replier is answered', async () => {
    const { ksock: replier } = await upperReplier('$.Req.Session');
    const result = await kbus(['request', '--to', String(replier.id), '$.Req.Session', 'ok'], {
      socket,
    });
    assertExit(result, 0);
    assert.match(result.stdout, new RegExp(`^reply .* from ${replier.id} .* data "OK"\\n$`));
  });

  test('--to a Ksock that is not the replier exits 32 (EPIPE)', async () => {
    const { ksock: replier, seen } = await upperReplier('$.Req.Stateful');
    const wrong = replier.id + 1000;
    const result = await kbus(['request', '--to', String(wrong), '$.Req.Stateful', 'x'], {
      socket,
    });
    assertExit(result, 32);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /EPIPE/);
    // Nothing reached the replier: a later plain request is the first it sees.
    assertExit(await kbus(['request', '$.Req.Stateful', 'later'], { socket }), 0);
    await waitFor(() => seen.length > 0, 'the replier to see the later request');
    assert.deepEqual(
      seen.map((m) => m.text()),
      ['later'],
    );
  });

  test('--all-or-wait is refused for requests (exit 64)', async () => {
    const result = await kbus(['request', '--all-or-wait', '$.Req.Wait', 'x'], { socket });
    assertExit(result, 64);
    assert.match(result.stderr, /--all-or-wait/);
  });

  test('--urgent requests carry URGENT to the replier', async () => {
    const { seen } = await upperReplier('$.Req.Urgent');
    const result = await kbus(['request', '--urgent', '$.Req.Urgent', 'now'], { socket });
    assertExit(result, 0);
    const request = seen.find((m) => m.kind === 'request')!;
    assert.equal(request.flags, Flags.WANT_A_REPLY | Flags.WANT_YOU_TO_REPLY | Flags.URGENT);
  });
});
