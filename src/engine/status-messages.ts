/**
 * The messages KBUS itself sends (kbus_build_kbus_message): the status
 * messages that answer a request in its replier's place, and Replier Bind
 * Events.
 */
import {
  encodeReplierBindEvent,
  Flags,
  type Message,
  type MessageId,
  MessageNames,
  NO_ADDRESS,
  NO_ID,
} from '../wire/index.js';

const NO_DATA = new Uint8Array(0);

/** A status message `name` from Ksock `from` (0: KBUS) to `to`, about request `inReplyTo`. */
export function statusMessage(
  serialNum: number,
  name: string,
  from: number,
  to: number,
  inReplyTo: MessageId,
): Message {
  return {
    id: { networkId: 0, serialNum },
    inReplyTo,
    to,
    from,
    origFrom: NO_ADDRESS,
    finalTo: NO_ADDRESS,
    extra: 0,
    flags: Flags.SYNTHETIC,
    name,
    data: NO_DATA,
  };
}

/** `$.KBUS.ReplierBindEvent`: Ksock `binder` bound (or unbound) as replier to `name`. */
export function bindEventMessage(
  serialNum: number,
  binder: number,
  isBind: boolean,
  name: string,
): Message {
  return {
    ...statusMessage(serialNum, MessageNames.REPLIER_BIND_EVENT, 0, 0, NO_ID),
    // kbus.c marks them ALL_OR_FAIL: all listeners hear of it, or none.
    flags: Flags.SYNTHETIC | Flags.ALL_OR_FAIL,
    data: encodeReplierBindEvent({ isBind, binder, name }),
  };
}
