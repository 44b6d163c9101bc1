/**
 * Reads back the /proc/kbus texts (as the daemon's BINDINGS and STATS give
 * them) into records, for `kbus top`.
 */

export interface BindingRecord {
  device: number;
  ksock: number;
  pid: number;
  replier: boolean;
  name: string;
}

export interface KsockStats {
  id: number;
  queued: number;
  maxMessages: number;
  sending: boolean;
  outstanding: number;
  unreplied: number;
}

export interface DeviceStats {
  index: number;
  nextKsock: number;
  nextMessage: number;
  unsentUnbindings: number;
  tragic: boolean;
  ksocks: KsockStats[];
}

const BINDING = /^\s*(\d+):\s+(\d+)\s+(\d+)\s+([RL])\s+(\S+)$/;
const DEVICE =
  /^dev\s+(\d+): next ksock (\d+) next msg (\d+) unsent unbindings (\d+)(\(gone tragic\))?$/;
const KSOCK = /^\s+ksock (\d+) last msg \d+:\d+ queue (\d+) of (\d+)$/;
const WRITE = /^\s+read byte .*, (not )?sending$/;
const REQUESTS =
  /^\s+outstanding requests (\d+) \(size \d+, max \d+\), unsent replies (\d+) \(max \d+\)$/;

export function parseBindings(text: string): BindingRecord[] {
  const out: BindingRecord[] = [];
  for (const line of text.split('\n')) {
    const m = BINDING.exec(line);
    if (m) {
      out.push({
        device: Number(m[1]),
        ksock: Number(m[2]),
        pid: Number(m[3]),
        replier: m[4] === 'R',
        name: m[5]!,
      });
    }
  }
  return out;
}

export function parseStats(text: string): DeviceStats[] {
  const devices: DeviceStats[] = [];
  let ksock: KsockStats | undefined;
  for (const line of text.split('\n')) {
    let m = DEVICE.exec(line);
    if (m) {
      devices.push({
        index: Number(m[1]),
        nextKsock: Number(m[2]),
        nextMessage: Number(m[3]),
        unsentUnbindings: Number(m[4]),
        tragic: m[5] !== undefined,
        ksocks: [],
      });
      continue;
    }
    const device = devices[devices.length - 1];
    if (device === undefined) continue;
    m = KSOCK.exec(line);
    if (m) {
      ksock = {
        id: Number(m[1]),
        queued: Number(m[2]),
        maxMessages: Number(m[3]),
        sending: false,
        outstanding: 0,
        unreplied: 0,
      };
      device.ksocks.push(ksock);
      continue;
    }
    if (ksock === undefined) continue;
    m = WRITE.exec(line);
    if (m) {
      ksock.sending = m[1] === undefined;
      continue;
    }
    m = REQUESTS.exec(line);
    if (m) {
      ksock.outstanding = Number(m[1]);
      ksock.unreplied = Number(m[2]);
    }
  }
  return devices;
}
