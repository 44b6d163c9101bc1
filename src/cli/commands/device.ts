import type { Command } from 'commander';
import {
  CliError,
  CliErrorCode,
  connectBusInfo,
  type GlobalOptions,
  openKsock,
  parseInteger,
} from '../common.js';

/** The least limit a device takes (an empty-named message's entire length), as kbusd checks it. */
const LEAST_LIMIT = 76;

export function registerDevice(program: Command, globals: () => GlobalOptions): void {
  program
    .command('devices')
    .description('how many devices the daemon has (numbered from 0)')
    .addHelpText(
      'after',
      `
Asks without opening a Ksock. Examples:
  kbus devices
  kbus --json devices         ({"devices":3})`,
    )
    .action(async () => {
      const g = globals();
      // --device 0 always exists; checking another here would refuse the question it asks.
      const bus = await connectBusInfo({ ...g, device: 0 });
      try {
        const count = await bus.devices();
        process.stdout.write(g.json ? `${JSON.stringify({ devices: count })}\n` : `${count}\n`);
      } finally {
        await bus.close();
      }
    });

  program
    .command('max-message-size')
    .argument('[bytes]', "set the device's limit (from 76 to the daemon's --max-message-size)")
    .description('the largest message (entire length, in bytes) a device accepts; or set it')
    .addHelpText(
      'after',
      `
The limit is per device (--device, default 0) and counts a message's entire
length: the 64-byte header, the name and the data, each padded to 4 bytes,
and the end guard. A longer message is refused with EMSGSIZE. Examples:
  kbus max-message-size
  kbus --device 1 max-message-size 4096
  kbus max-message-size max    (back to the daemon's own maximum)`,
    )
    .action(async (bytes: string | undefined) => {
      const g = globals();
      let request: number | 'max' | undefined;
      if (bytes === 'max') request = 'max';
      else if (bytes !== undefined) {
        request = parseInteger(bytes, 'the size', 0, 0xffffffff);
        if (request < LEAST_LIMIT) {
          throw new CliError(
            CliErrorCode.USAGE,
            `the size must be at least ${LEAST_LIMIT} bytes (the smallest message), not ${bytes}; 'max' is the daemon's maximum`,
          );
        }
      }
      const ksock = await openKsock(g, 'r');
      try {
        // MAXMSGSIZE: 0 asks the device's limit, 1 asks the daemon's maximum; others set.
        const maximum = await ksock.setMaxMessageSize(1);
        let limit: number;
        if (request === undefined) limit = await ksock.maxMessageSize();
        else if (request === 'max') limit = await ksock.setMaxMessageSize(maximum);
        else if (request > maximum) {
          throw new CliError(
            CliErrorCode.USAGE,
            `the size must be at most ${maximum} bytes, the daemon's maximum (kbusd --max-message-size), not ${request}`,
          );
        } else limit = await ksock.setMaxMessageSize(request);
        process.stdout.write(
          g.json
            ? `${JSON.stringify({ device: g.device, maxMessageSize: limit })}\n`
            : `${limit}\n`,
        );
      } finally {
        await ksock.close();
      }
    });
}
