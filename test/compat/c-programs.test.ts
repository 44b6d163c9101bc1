/**
 * C programs written for the KBUS kernel module, run unmodified under
 * `kbus run` against a real kbusd: every ioctl and its errors (compat.md
 * §3), writing and sending (§6), reading, readiness, waiting sends, close,
 * fork and dup (§2, §7). Each case is its own process, so that one the
 * layer gets wrong cannot spoil the next.
 */
import { after, before, describe, test } from 'node:test';
import { killStragglers } from '../cli/helpers.js';
import { type RunningDaemon, startDaemon } from '../support/daemon.js';
import { assertCasePassed, checkPrerequisites, Programs, underLayer } from './support.js';

/** The cases of each program (programs/NAME.c), as its case table names them. */
const CASES: Record<string, string[]> = {
  ioctls: [
    'ksockid',
    'reset-ignores-argument',
    'unknown-requests',
    'fd-requests-pass-through',
    'bind-and-unbind',
    'replier-query',
    'nextmsg-and-lenleft',
    'queue-limits-and-counts',
    'unreplied-to',
    'msgonlyonce',
    'verbose',
    'reportreplierbinds',
    'report-replier-binds-queues-events',
    'maxmsgsize',
    'newdevice',
    'lastsent',
    'send-and-discard',
    'read-only-ksock',
  ],
  writes: [
    'entire-in-one-write',
    'entire-one-byte-at-a-time',
    'entire-in-odd-pieces',
    'pointy',
    'pointy-header-one-byte-at-a-time',
    'pointy-wildcard-refused-at-send',
    'pointy-byte-after-header',
    'pointy-bad-pointers',
    'header-checks-in-order',
    'check-at-the-88th-byte',
    'entire-tail-errors',
  ],
  session: [
    'read-in-pieces-with-lenleft',
    'read-byte-by-byte',
    'read-errors',
    'select-ksock-and-pipe',
    'poll-ksock-and-pipe',
    'all-or-wait',
    'close-then-status',
    'forked-child',
    'dup-shares-the-ksock',
  ],
  wakeups: ['another-thread-reads-the-event', 'epoll-ksock-and-pipe'],
};

for (const [program, cases] of Object.entries(CASES)) {
  describe(`C program ${program}.c under kbus run`, () => {
    let daemon: RunningDaemon;
    let programs: Programs;
    let executable: string;

    before(async () => {
      checkPrerequisites();
      programs = new Programs();
      executable = programs.compile(program);
      daemon = await startDaemon();
    });

    after(async () => {
      await killStragglers();
      await daemon?.stop();
      programs?.remove();
    });

    for (const name of cases) {
      test(name, async () => {
        assertCasePassed(await underLayer(daemon.socket, [executable, name]), name);
      });
    }
  });
}
