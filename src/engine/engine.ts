/**
 * The in-process bus: a set of independent devices (Kbus.txt "The KBUS
 * devices"), each with its own Ksocks, bindings and message ids. It does no
 * I/O; the daemon and the clients drive it.
 */
import { BytePool, KbusError } from '../wire/index.js';
import { Device } from './device.js';
import type { Ksock } from './ksock.js';
import { OpenMode } from './ksock.js';
import {
  type EngineOptions,
  MAX_DEVICES,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { bindingsText, statsText } from './proc.js';

export class Engine {
  readonly options: ResolvedOptions;
  /** Memory for the messages its Ksocks send as bytes. */
  readonly pool = new BytePool();
  private readonly devices: Device[] = [];
  /**
   * @internal Bytes held by every queue of every device: each queued copy
   * counted at its entire length (QueuedMessage.length). The copies of a
   * message sent to several Ksocks share one set of bytes, so this is more
   * than the memory really used: a deliberate, conservative upper bound,
   * kept exact with an addition per push and a subtraction per removal.
   */
  queuedBytes = 0;
  /** @internal Devices with ALL_OR_WAIT sends pending. */
  readonly waitingDevices = new Set<Device>();

  constructor(options: EngineOptions = {}) {
    this.options = resolveOptions(options);
    for (let i = 0; i < this.options.devices; i++) {
      this.devices.push(new Device(this, i, this.options));
    }
  }

  /** How many devices there are (indexes 0 to deviceCount - 1). */
  get deviceCount(): number {
    return this.devices.length;
  }

  /**
   * Opens a Ksock on a device (the seed's open of /dev/kbusN). ENOENT if
   * there is no such device. `mode` is OpenMode bits; `pid` is what the
   * bindings report shows.
   */
  open(device = 0, mode: number = OpenMode.READ_WRITE, pid = 0): Ksock {
    const found = Number.isInteger(device) ? this.devices[device] : undefined;
    if (found === undefined) {
      throw new KbusError(
        'ENOENT',
        `there is no KBUS device ${device} (there are ${this.devices.length})`,
      );
    }
    return found.open(mode, pid);
  }

  /** NEWDEVICE: adds a device and returns its index; EINVAL past 256 devices. */
  newDevice(): number {
    const index = this.devices.length;
    if (index >= MAX_DEVICES) {
      throw new KbusError('EINVAL', `there are already ${MAX_DEVICES} devices`);
    }
    this.devices.push(new Device(this, index, this.options));
    return index;
  }

  /**
   * @internal Room may have appeared in a queue: retries the pending
   * ALL_OR_WAIT sends of every device, since the overall byte budget is
   * shared by all of them.
   */
  roomMayHaveAppeared(): void {
    if (this.waitingDevices.size === 0) return;
    for (const device of [...this.waitingDevices]) device.retryPending();
  }

  /** The text of /proc/kbus/bindings. */
  bindingsText(): string {
    return bindingsText(this.devices);
  }

  /** The text of /proc/kbus/stats. */
  statsText(): string {
    return statsText(this.devices);
  }
}
