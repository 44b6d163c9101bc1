/**
 * `kbus capture` records the messages that match some names to a capture
 * file; `kbus replay` sends them again (docs/cli.md "Capture files").
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import type { Reply, Status } from '../../client/index.js';
import {
  type CapturedMessage,
  CaptureFormatError,
  headerLine,
  messageLine,
  missedLine,
  parseHeader,
  parseLine,
  replayFlags,
  replayKind,
} from '../capture-file.js';
import {
  CliError,
  CliErrorCode,
  checkName,
  describeKsock,
  type GlobalOptions,
  openKsock,
  parseInteger,
} from '../common.js';
import { interruptSignal } from './listen.js';

/** The capture Ksock's queue limit: room for bursts, since a listener with a full queue misses messages. */
const CAPTURE_MAX_MESSAGES = '10000';
/** How often a capture asks kbusd whether it missed messages. */
const MISSED_CHECK_MS = 1000;

async function closeOutput(out: Writable): Promise<void> {
  if (out === process.stdout) return;
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
}

export function registerCapture(program: Command, globals: () => GlobalOptions): void {
  program
    .command('capture')
    .description('record the messages that match names to a capture file (JSON Lines)')
    .argument('<names...>', "names to listen to, e.g. '$.Sensors.*'")
    .option('-w, --write <file>', 'write to this file (default: standard output)')
    .option('-n, --count <n>', 'stop after this many messages')
    .option('--max-messages <n>', 'queue limit of the capturing Ksock', CAPTURE_MAX_MESSAGES)
    .addHelpText(
      'after',
      `
The file has a header line, then one JSON object per message: when it was
seen (t, milliseconds since the start), kind, id, inReplyTo, to, from,
origFrom, finalTo, flags, name and data (base64). See docs/cli.md.
Stops on Ctrl-C (exit 0) or after --count messages.

Examples:
  kbus capture '$.Sensors.*' -w sensors.kbus.jsonl
  kbus replay sensors.kbus.jsonl`,
    )
    .action(
      async (names: string[], options: { write?: string; count?: string; maxMessages: string }) => {
        const g = globals();
        for (const name of names) checkName(name, 'bind');
        const count =
          options.count === undefined ? Infinity : parseInteger(options.count, '--count', 1);
        const maxMessages = parseInteger(options.maxMessages, '--max-messages', 1);
        const ksock = await openKsock(g, 'r');
        const interrupt = interruptSignal();
        const out: Writable =
          options.write === undefined ? process.stdout : createWriteStream(options.write);
        let seen = 0;
        let missed = 0;
        const started = performance.now();
        // kbusd counts what a listener missed (MISSED); a line in the file
        // says so where it was noticed, every second and at the end.
        let checking = Promise.resolve();
        const checkMissed = () => {
          checking = checking.then(async () => {
            const now = await ksock.missed();
            if (now > missed) {
              out.write(`${missedLine(now - missed, performance.now() - started)}\n`);
              missed = now;
            }
          });
          return checking;
        };
        const timer = setInterval(() => {
          checkMissed().catch(() => {}); // The connection closed: the loop below says so.
        }, MISSED_CHECK_MS);
        try {
          await ksock.maxMessages(maxMessages);
          for (const name of names) await ksock.bind(name);
          await describeKsock(ksock, { kind: 'kbus capture', names: names.join(' ') });
          out.write(`${headerLine({ device: g.device, patterns: names, start: Date.now() })}\n`);
          if (options.write !== undefined && process.stderr.isTTY) {
            process.stderr.write(
              `capturing ${names.join(', ')} to ${options.write} (Ctrl-C to stop)\n`,
            );
          }
          for await (const message of ksock.messages({ signal: interrupt.signal })) {
            if (interrupt.signal.aborted) break;
            out.write(`${messageLine(message, performance.now() - started)}\n`);
            if (++seen >= count) break;
          }
          if (seen < count && !interrupt.signal.aborted) {
            throw new CliError(CliErrorCode.DAEMON_GONE, 'the connection to kbusd closed');
          }
          await checkMissed();
        } finally {
          clearInterval(timer);
          interrupt.dispose();
          await checking.catch(() => {});
          await ksock.close();
          await closeOutput(out);
          const into = options.write === undefined ? '' : ` to ${options.write}`;
          if (options.write !== undefined || missed > 0) {
            process.stderr.write(
              `captured ${seen} message${seen === 1 ? '' : 's'}${into}${missed > 0 ? `; missed ${missed}: the capturing Ksock's queue of ${maxMessages} was full (raise --max-messages)` : ''}\n`,
            );
          }
        }
      },
    );

  program
    .command('replay')
    .description('send the messages of a capture file again')
    .argument('<file>', 'a file written by kbus capture')
    .option(
      '--pace <pace>',
      'recorded (as captured, the default) or fast (as fast as the bus takes them)',
      'recorded',
    )
    .option('--timeout <seconds>', "how long to wait for each request's reply at the end", '5')
    .addHelpText(
      'after',
      `
Announcements and requests are sent again, with their names, data and
flags (URGENT, ALL_OR_WAIT, ALL_OR_FAIL, user bits), from a new Ksock and
with new ids. Replies and status messages are skipped: they answered
requests of the captured run. The replies to replayed requests are
awaited and dropped. A send that fails is counted; the exit code is the
first failure's error number.

Examples:
  kbus replay sensors.kbus.jsonl
  kbus replay --pace fast sensors.kbus.jsonl`,
    )
    .action(async (file: string, options: { pace: string; timeout: string }) => {
      const g = globals();
      if (options.pace !== 'recorded' && options.pace !== 'fast') {
        throw new CliError(
          CliErrorCode.USAGE,
          `--pace takes recorded or fast, not '${options.pace}'`,
        );
      }
      const timeout = Number(options.timeout) * 1000;
      if (!(timeout > 0))
        throw new CliError(
          CliErrorCode.USAGE,
          `--timeout takes seconds above 0, not '${options.timeout}'`,
        );
      const { messages, missed } = await readCapture(file);
      const ksock = await openKsock(g, 'rw');
      const interrupt = interruptSignal();
      const replies: Promise<Reply | Status>[] = [];
      const tally = { announcements: 0, requests: 0, skipped: 0, failed: 0 };
      let firstError: unknown;
      const failed = (err: unknown) => {
        tally.failed++;
        firstError ??= err;
      };
      try {
        const started = performance.now();
        // The pace counts from the first message, not from when the capture started.
        const first = messages[0]?.t ?? 0;
        for (const m of messages) {
          if (interrupt.signal.aborted) break;
          const kind = replayKind(m);
          if (kind === 'skip') {
            tally.skipped++;
            continue;
          }
          if (options.pace === 'recorded') await until(started + m.t - first, interrupt.signal);
          const data = Buffer.from(m.data, 'base64');
          const flags = replayFlags(m.flags);
          if (kind === 'request') {
            tally.requests++;
            const reply = ksock.request(m.name, data, { flags, timeout });
            reply.catch(failed);
            replies.push(reply);
          } else {
            tally.announcements++;
            await ksock.announce(m.name, data, { flags }).catch(failed);
          }
        }
        await Promise.allSettled(replies);
      } finally {
        interrupt.dispose();
        await ksock.close();
      }
      const sent = tally.announcements + tally.requests;
      process.stderr.write(
        `replayed ${sent} message${sent === 1 ? '' : 's'} (${tally.announcements} announcements, ${tally.requests} requests); skipped ${tally.skipped} replies and status messages; ${tally.failed} failed\n`,
      );
      if (missed > 0) {
        process.stderr.write(
          `note: the capture missed ${missed} message${missed === 1 ? '' : 's'} (its queue was full), which could not be replayed\n`,
        );
      }
      if (firstError !== undefined) throw firstError;
    });
}

/** Waits until performance.now() reaches `at`, or the signal aborts. */
function until(at: number, signal: AbortSignal): Promise<void> {
  const wait = at - performance.now();
  if (wait <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, wait);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Reads and checks a whole capture file (a mistake on any line is reported before anything is sent). */
async function readCapture(file: string): Promise<{ messages: CapturedMessage[]; missed: number }> {
  const input = createReadStream(file, 'utf8');
  const failure = new Promise<never>((_, reject) =>
    input.once('error', (err) =>
      reject(
        new CliError(CliErrorCode.FAILED, `cannot read ${file}: ${err.message}`, { cause: err }),
      ),
    ),
  );
  const read = (async () => {
    const messages: CapturedMessage[] = [];
    let missed = 0;
    let n = 0;
    for await (const text of createInterface({ input, crlfDelay: Infinity })) {
      n++;
      if (n === 1) parseHeader(text);
      else if (text.trim() !== '') {
        const item = parseLine(text, n);
        if (item.kind === 'missed') missed += item.count;
        else messages.push(item);
      }
    }
    if (n === 0) throw new CaptureFormatError(1, 'the file is empty');
    return { messages, missed };
  })();
  try {
    return await Promise.race([read, failure]);
  } catch (err) {
    if (err instanceof CaptureFormatError) {
      throw new CliError(CliErrorCode.FAILED, `${file} ${err.message}`, { cause: err });
    }
    throw err;
  }
}
