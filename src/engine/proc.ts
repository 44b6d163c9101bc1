/**
 * The texts of /proc/kbus/bindings and /proc/kbus/stats, in the formats
 * kbus.c prints (kbus_binding_seq_show, kbus_stats_seq_show).
 */
import type { Device } from './device.js';

function pad(value: number | string, width: number): string {
  return String(value).padStart(width, ' ');
}

export function bindingsText(devices: readonly Device[]): string {
  let out = '';
  for (const device of devices) {
    out +=
      '# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener> for <message-name>\n';
    for (const binding of device.router.newestFirst()) {
      out += `${pad(device.index, 3)}: ${pad(binding.ksock.id, 8)} ${pad(binding.ksock.pid, 8)}  ${
        binding.isReplier ? 'R' : 'L'
      }  ${binding.name}\n`;
    }
  }
  return out;
}

export function statsText(devices: readonly Device[]): string {
  let out = '';
  for (const device of devices) {
    const d = device.stats();
    const tragic = d.tragic ? '(gone tragic)' : '';
    out += `dev ${pad(device.index, 2)}: next ksock ${d.nextKsockId} next msg ${d.nextSerial} unsent unbindings ${d.unsentUnbind}${tragic}\n`;
    for (const ksock of device.ksocksNewestFirst()) {
      const k = ksock.stats();
      out += `    ksock ${k.id} last msg ${k.lastSent.networkId}:${k.lastSent.serialNum} queue ${k.queued} of ${k.maxMessages}\n`;
      out += `      read byte ${k.readByte} of ${k.readTotal}, wrote byte ${k.writePos} of ${k.writePart} (${k.writeFinished ? '' : 'not '}finished), ${k.sending ? '' : 'not '}sending\n`;
      out += `      outstanding requests ${k.awaiting} (size ${k.awaitingSize}, max ${k.maxAwaiting}), unsent replies ${k.owing} (max ${k.maxOwing})\n`;
    }
  }
  return out;
}
