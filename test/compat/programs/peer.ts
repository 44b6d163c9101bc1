/**
 * peer.c's roles through the TypeScript client, with the same arguments and
 * output: `node peer.js ROLE NAME COUNT` (the socket from KBUS_SOCKET). The
 * compatibility tests and benchmark run one beside the other.
 */
import { Ksock } from '../../../src/client/index.js';
import type { KbusMessage } from '../../../src/client/messages.js';

const WAIT_MS = 20_000;

function kindOf(m: KbusMessage): string {
  if (m.inReplyTo.serialNum !== 0) return 'reply';
  return m.kind === 'request' ? 'request' : 'announcement';
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  const [role, name, countText] = process.argv.slice(2);
  const count = Number(countText);
  if (!role || !name || !(count >= 0)) {
    process.stderr.write('usage: peer replier|requester|listener|sender|counter NAME COUNT\n');
    process.exitCode = 2;
    return;
  }
  const ksock = await Ksock.connect();
  const say = (line: string) => process.stdout.write(`${line}\n`);
  try {
    if (role === 'replier') {
      await ksock.bind(name, { replier: true });
      say('ready');
      for (let i = 0; i < count; ) {
        const m = await ksock.receive({ timeout: WAIT_MS });
        if (m.kind !== 'request') continue;
        await ksock.replyTo(m, Buffer.concat([Buffer.from('re:'), m.data]));
        i++;
      }
    } else if (role === 'requester') {
      const rtt: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = process.hrtime.bigint();
        const reply = await ksock.request(name, `req ${i}`, { timeout: WAIT_MS });
        rtt.push(Number(process.hrtime.bigint() - t0) / 1000);
        if (Buffer.from(reply.data).toString() !== `re:req ${i}`)
          throw new Error(`reply ${i} has the wrong data`);
      }
      rtt.sort((a, b) => a - b);
      say(JSON.stringify({ p50: percentile(rtt, 0.5), p99: percentile(rtt, 0.99) }));
    } else if (role === 'listener' || role === 'counter') {
      await ksock.maxMessages(Math.max(100, count + 100));
      await ksock.bind(name);
      say('ready');
      let last = 0n;
      for (let i = 0; i < count; i++) {
        const m = await ksock.receive({ timeout: WAIT_MS });
        if (role === 'listener') say(`${kindOf(m)} ${m.name} ${Buffer.from(m.data).toString()}`);
        else last = process.hrtime.bigint();
      }
      if (role === 'counter') say(String(last));
    } else if (role === 'sender') {
      const data = new Uint8Array(64).fill(0x61);
      const t0 = process.hrtime.bigint();
      // One send at a time, as the C sender does: each waits for kbusd's answer.
      for (let i = 0; i < count; i++) await ksock.announce(name, data);
      say(String(t0));
    } else {
      throw new Error(`no role ${role}`);
    }
  } finally {
    await ksock.close();
  }
}

await main();
