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
    const tragic = device.unbindEvents.tragic ? '(gone tragic)' : '';
    out += `dev ${pad(device.index, 2)}: next ksock ${device.nextKsockId} next msg ${device.nextSerial} unsent unbindings ${device.unbindEvents.length}${tragic}\n`;
    // kbus.c keeps its open Ksocks newest first.
    for (const ksock of [...device.ksocks.values()].reverse()) {
      const reading = ksock.reading;
      const total = reading ? reading.item.length : 0;
      const read = total - ksock.lenLeft();
      const sending = ksock.pending !== undefined;
      // A pending send's message is finished, and kbus.c's part counter is past its end.
      const progress = sending ? { part: '???', pos: 0 } : ksock.assembler.progress();
      const finished = sending || ksock.assembler.finished;
      out += `    ksock ${ksock.id} last msg ${ksock.lastSentId.networkId}:${ksock.lastSentId.serialNum} queue ${ksock.queue.length} of ${ksock.maxMessages}\n`;
      out += `      read byte ${read} of ${total}, wrote byte ${progress.pos} of ${progress.part} (${finished ? '' : 'not '}finished), ${sending ? '' : 'not '}sending\n`;
      out += `      outstanding requests ${ksock.outstandingCount} (size ${ksock.outstandingSize}, max ${ksock.outstandingMax}), unsent replies ${ksock.unrepliedTo()} (max ${ksock.maxUnreplied})\n`;
    }
  }
  return out;
}
