/**
 * Telling systemd that kbusd is ready (Type=notify): a READY=1 datagram to
 * $NOTIFY_SOCKET once the socket exists, so that units ordered after kbusd
 * find it. Node cannot send Unix datagrams, so systemd-notify sends it; the
 * unit needs NotifyAccess=all, as the sender is kbusd's child.
 */
import { execFile } from 'node:child_process';

/**
 * Sends READY=1 (and MAINPID, this process) when NOTIFY_SOCKET is set;
 * does nothing otherwise. A failure is reported through `warn`, not thrown:
 * the daemon serves either way.
 */
export function notifyReady(
  warn: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve();
  return new Promise((resolve) => {
    execFile('systemd-notify', ['--ready', `--pid=${process.pid}`], { env }, (err) => {
      if (err) warn(`cannot tell systemd it is ready (systemd-notify: ${err.message.trim()})`);
      resolve();
    });
  });
}
