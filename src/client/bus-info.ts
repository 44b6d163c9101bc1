/**
 * What a bus holds, asked without opening a Ksock: the device count and the
 * texts of /proc/kbus/bindings and /proc/kbus/stats (protocol.md: DEVICES,
 * BINDINGS and STATS are answered before OPEN). A tool that looks at the bus
 * this way leaves no trace in what it reads, as reading /proc/kbus did.
 * It uses no Node module; `BusInfo.connect()` is added under Node.
 */
import { Op, type Transport } from '../protocol/index.js';
import { decodeLatin1 } from '../wire/index.js';
import { Channel } from './channel.js';

/** AUTH's method number for a bearer token (docs/network.md). */
const AUTH_BEARER = 1;

export interface BusInfoOptions {
  /** A bearer token, sent in an AUTH frame first, for a daemon with an access policy. */
  token?: string;
}

export class BusInfo {
  private readonly channel: Channel;
  /** AUTH's answer, when a token was given: every question waits for it. */
  private auth: Promise<unknown> | undefined;

  protected constructor(transport: Transport) {
    this.channel = new Channel(transport, {
      // Nothing is pushed before OPEN, and this connection never opens.
      onMessage: () => {},
      onEvent: () => {},
      onClose: () => {},
    });
  }

  /** Asks over a transport already connected to a kbusd. */
  static over<T extends BusInfo>(
    this: { prototype: T },
    transport: Transport,
    options: BusInfoOptions = {},
  ): T {
    // biome-ignore lint/complexity/noThisInStatic: called on a subclass, it must make that subclass
    const Class = this as unknown as new (transport: Transport) => T;
    const info = new Class(transport);
    if (options.token !== undefined) {
      // Sent at once; a refused token (EACCES) is the error of every question after it.
      info.auth = info.channel.call(
        Op.AUTH,
        [AUTH_BEARER],
        new TextEncoder().encode(options.token),
      );
      info.auth.catch(() => {});
    }
    return info;
  }

  /** DEVICES: how many devices the bus has (indexes 0 to n - 1). */
  async devices(): Promise<number> {
    await this.auth;
    return (await this.channel.call(Op.DEVICES, [])).word(0);
  }

  /** The text of /proc/kbus/bindings: every binding on every device. */
  async bindings(): Promise<string> {
    return this.text(Op.BINDINGS);
  }

  /** The text of /proc/kbus/stats: every device and every open Ksock. */
  async stats(): Promise<string> {
    return this.text(Op.STATS);
  }

  private async text(op: number): Promise<string> {
    await this.auth;
    const body = (await this.channel.call(op, [])).body;
    return decodeLatin1(body, 0, body.length);
  }

  /** Whether the connection is closed (by close(), or because the daemon went away). */
  get closed(): boolean {
    return this.channel.closed;
  }

  async close(): Promise<void> {
    if (this.channel.closed) return;
    this.channel.close();
    await this.channel.done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
