/** BusInfo under Node: `BusInfo.connect()` asks kbusd through its Unix socket. */
import { defaultSocketPath } from '../protocol/socket-path.js';
import { BusInfo as CoreBusInfo } from './bus-info.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { connectSocket } from './ksock.js';

export class BusInfo extends CoreBusInfo {
  /**
   * Connects to kbusd without opening a Ksock: `BusInfo.connect()` (the
   * default socket, `$KBUS_SOCKET` first) or `BusInfo.connect('/run/kbus.sock')`.
   */
  static async connect(socket: string = defaultSocketPath()): Promise<BusInfo> {
    if (typeof socket !== 'string' || socket === '') {
      throw new ClientError(
        ClientErrorCode.NO_SOCKET_PATH,
        "BusInfo.connect() needs kbusd's socket path, e.g. BusInfo.connect('/run/kbus.sock'), or none for the default",
      );
    }
    return BusInfo.over(await connectSocket(socket));
  }
}
