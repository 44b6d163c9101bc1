/**
 * The in-process bus: a set of independent devices (Kbus.txt "The KBUS
 * devices"), each with its own Ksocks, bindings and message ids, and the
 * byte budgets their queues share. It does no I/O; the daemon and the
 * clients drive it.
 */
import { BytePool, KbusError } from '../wire/index.js';
import { Device, type DeviceHost } from './device.js';
import { type EngineKsock, OpenMode } from './ksock.js';
import { QueueBudget } from './message-queue.js';
import { collectMetrics, type EngineMetrics } from './metrics.js';
import {
  type EngineOptions,
  MAX_DEVICES,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { bindingsText, statsText } from './proc.js';
import type { Binding } from './router.js';

/** A binding added or removed (Engine.onBindingChange). */
export interface BindingChange {
  readonly device: number;
  readonly ksockId: number;
  readonly name: string;
  readonly isReplier: boolean;
  readonly added: boolean;
}
export type BindingObserver = (change: BindingChange) => void;

export class Engine implements DeviceHost {
  readonly options: ResolvedOptions;
  /** Memory for the messages its Ksocks send as bytes. */
  readonly pool = new BytePool();
  /** The queues' byte budgets, shared by every device. */
  readonly budget: QueueBudget;
  private readonly devices: Device[] = [];
  /** Devices with ALL_OR_WAIT sends pending. */
  private readonly waitingDevices = new Set<Device>();

  /**
   * Called after every binding added or removed, on any device, with the
   * device index, the Ksock's id, the name and whether it is a replier
   * binding. For whoever mirrors the bindings elsewhere (cluster mode); it
   * must not call back into the engine.
   */
  onBindingChange: BindingObserver | undefined;

  constructor(options: EngineOptions = {}) {
    this.options = resolveOptions(options);
    this.budget = new QueueBudget(this.options.maxQueueBytes, this.options.maxTotalQueueBytes);
    for (let i = 0; i < this.options.devices; i++) this.devices.push(new Device(this, i));
  }

  /** How many devices there are (indexes 0 to deviceCount - 1). */
  get deviceCount(): number {
    return this.devices.length;
  }

  /** Bytes held by every queue of every device (see QueueBudget). */
  get queuedBytes(): number {
    return this.budget.used;
  }

  /**
   * Opens a Ksock on a device (the seed's open of /dev/kbusN). ENOENT if
   * there is no such device. `mode` is OpenMode bits; `pid` is what the
   * bindings report shows.
   */
  open(device = 0, mode: number = OpenMode.READ_WRITE, pid = 0): EngineKsock {
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
    this.devices.push(new Device(this, index));
    return index;
  }

  /**
   * The replier bound to exactly `name` on `device` loses that binding, as
   * if it had unbound (its queued requests get `$.KBUS.Replier.Unbound`).
   * False if there was none.
   */
  evictReplier(device: number, name: string): boolean {
    const found = this.devices[device];
    return found === undefined ? false : found.evictReplier(name);
  }

  /** @internal */
  bindingChanged(device: number, binding: Binding<EngineKsock>, added: boolean): void {
    this.onBindingChange?.({
      device,
      ksockId: binding.ksock.id,
      name: binding.name,
      isReplier: binding.isReplier,
      added,
    });
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

  /** @internal */
  setWaiting(device: Device, waiting: boolean): void {
    if (waiting) this.waitingDevices.add(device);
    else this.waitingDevices.delete(device);
  }

  /**
   * Makes every queued message that is a small part of a larger buffer own
   * its bytes, and returns how many were copied. A message sent whole is
   * kept as the bytes it arrived in, without a copy: from a busy client
   * those are a view into a socket read holding many messages, and a
   * message that stays queued would keep that whole read alive, far more
   * memory than the byte budgets count. Copying every message as it
   * arrives would cost more than the rest of its journey, so kbusd calls
   * this a few times a second instead: the messages still queued then are
   * the ones that stay, and only they are copied, each once.
   */
  compactQueues(): number {
    const copies = new Map<Uint8Array, Uint8Array>();
    let copied = 0;
    for (const device of this.devices) copied += device.compactQueues(copies);
    return copied;
  }

  /** Counters and current state of every device and Ksock, for monitoring (metrics.ts). */
  metrics(): EngineMetrics {
    return collectMetrics(this.devices, this.budget);
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
