/** BusInfo under Node: `BusInfo.connect()` asks kbusd through its Unix socket or a URL. */
import { defaultSocketPath } from '../protocol/socket-path.js';
import { isKbusUrl, parseKbusUrl } from '../protocol/url.js';
import { BusInfo as CoreBusInfo } from './bus-info.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { connectSocket } from './ksock.js';
import { type ClientTls, connectUrl } from './network.js';

export interface BusInfoConnectOptions {
  /** A bearer token (docs/network.md), for a daemon with an access policy. */
  token?: string;
  /** TLS settings for tls:// and wss://. */
  tls?: ClientTls;
}

export class BusInfo extends CoreBusInfo {
  /**
   * Connects to kbusd without opening a Ksock: `BusInfo.connect()` (the
   * default socket, `$KBUS_SOCKET` first), `BusInfo.connect('/run/kbus.sock')`
   * or `BusInfo.connect('ws://127.0.0.1:8080/kbus', { token })`.
   */
  static async connect(
    target: string = defaultSocketPath(),
    options: BusInfoConnectOptions = {},
  ): Promise<BusInfo> {
    if (typeof target !== 'string' || target === '') {
      throw new ClientError(
        ClientErrorCode.NO_SOCKET_PATH,
        "BusInfo.connect() needs kbusd's socket path, e.g. BusInfo.connect('/run/kbus.sock'), or none for the default",
      );
    }
    const url = isKbusUrl(target) ? parseKbusUrl(target) : undefined;
    const transport =
      url === undefined || url.scheme === 'unix'
        ? await connectSocket(url?.path ?? target)
        : await connectUrl(url, options.tls, options.token);
    return BusInfo.over(transport, options.token === undefined ? {} : { token: options.token });
  }
}
