/**
 * The embedded bus: a Ksock on an engine in this very process, with no
 * daemon. The client speaks the protocol over an in-memory transport to the
 * daemon's own connection handler, so an embedded Ksock behaves exactly as
 * one connected to kbusd.
 */
import { OPEN_OPTION_SPEC } from '../client/core.js';
import { Ksock as ClientKsock, type OpenOptions } from '../client/index.js';
import { Connection } from '../daemon/index.js';
import { Engine } from '../engine/index.js';
import { MIN_FRAME_LENGTH, memoryTransportPair, type Transport } from '../protocol/index.js';
import { checkOptions } from '../wire/check-options.js';

/**
 * The process's default in-process bus, made on first use. (The one piece
 * of state shared by a process: it is what `Ksock.open()` with no engine
 * means.)
 */
let sharedEngine: Engine | undefined;

export function defaultEngine(): Engine {
  sharedEngine ??= new Engine();
  return sharedEngine;
}

/** A transport to `engine`, served by a connection handler of its own. */
export function engineTransport(engine: Engine): Transport {
  const [client, server] = memoryTransportPair();
  const maxFrameLength = MIN_FRAME_LENGTH + engine.options.maxMessageSize;
  new Connection(engine, server, { maxFrameLength, log: undefined }, 0);
  return client;
}

export class Ksock extends ClientKsock {
  /**
   * Opens a Ksock on an in-process engine (by default the process's shared
   * one): no daemon needed, same behaviour.
   */
  static async open<T extends Ksock>(
    this: { prototype: T },
    engine: Engine = defaultEngine(),
    options: OpenOptions = {},
  ): Promise<T> {
    if (!(engine instanceof Engine)) {
      throw new TypeError(
        'Ksock.open() takes an Engine (or nothing, for the shared one) and then options: Ksock.open(engine, { device, mode, pid })',
      );
    }
    checkOptions('Ksock.open()', options, OPEN_OPTION_SPEC);
    // biome-ignore lint/complexity/noThisInStatic: called on a subclass, it must make that subclass
    return (this as unknown as typeof Ksock).over(engineTransport(engine), options) as Promise<T>;
  }
}
