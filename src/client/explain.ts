/**
 * Errors that say what went wrong in this case and what to do. The daemon
 * answers with an errno only (protocol.md); the client knows what it sent,
 * so it can name the name, the rule it breaks, the size, and give only the
 * meaning of the errno that fits (Kbus.txt "Error numbers" lists several
 * for some numbers).
 */
import {
  DEFAULT_MAX_DATA_LENGTH,
  entireMessageLength,
  Flags,
  KbusCaseMeaning,
  KbusError,
  MAX_NAME_LENGTH,
  type MessageInit,
  nameProblem,
} from '../wire/index.js';

const DEFAULT_LIMIT = entireMessageLength(MAX_NAME_LENGTH, DEFAULT_MAX_DATA_LENGTH);

/** `name` as an error shows it: cut to 60 characters. */
function shortName(name: string): string {
  return name.length > 60 ? `${name.slice(0, 57)}...` : name;
}

/** The codes that can be about a message name. */
function isNameCode(code: string): boolean {
  return code === 'EBADMSG' || code === 'ENAMETOOLONG' || code === 'EINVAL';
}

/** An error for a bad name, if `name` is bad; else undefined. */
function nameError(err: KbusError, name: string, sending: boolean): KbusError | undefined {
  if (!isNameCode(err.code)) return undefined;
  const problem = nameProblem(name, sending);
  if (problem === undefined) return undefined;
  const verb = sending ? 'cannot send' : 'cannot bind or unbind';
  const shown = shortName(name);
  return new KbusError(err.code, `${verb} '${shown}'`, { cause: err, meaning: problem });
}

/** `err` from sending a message given encoded, of which only the name is known. */
export function explainEncodedSendError(err: Error, name: string): Error {
  if (!(err instanceof KbusError)) return err;
  const shown = shortName(name);
  const named = nameError(err, name, true);
  if (named !== undefined) return named;
  if (err.code === 'EINVAL') {
    // The name is good, so the bytes are what is wrong.
    return new KbusError('EINVAL', `cannot send '${shown}'`, {
      cause: err,
      meaning: KbusCaseMeaning.MALFORMED_MESSAGE,
    });
  }
  return new KbusError(err.code, `cannot send '${shown}'`, { cause: err });
}

/** `err` from sending `message`, said for this case. */
export function explainSendError(err: Error, message: MessageInit): Error {
  if (!(err instanceof KbusError)) return err;
  const name = message.name;
  switch (err.code) {
    case 'EADDRNOTAVAIL':
      if ((message.flags ?? 0) & Flags.WANT_A_REPLY) {
        return new KbusError('EADDRNOTAVAIL', `no replier is bound to '${name}'`, {
          cause: err,
          meaning: KbusCaseMeaning.REQUEST_WITHOUT_REPLIER,
        });
      }
      return new KbusError('EADDRNOTAVAIL', `cannot reply to Ksock ${message.to ?? 0}`, {
        cause: err,
        meaning: KbusCaseMeaning.REPLY_TO_GONE,
      });
    case 'EMSGSIZE': {
      const size = entireMessageLength(name.length, message.data?.length ?? 0);
      return new KbusError('EMSGSIZE', `the message '${name}' is ${size} bytes whole`, {
        cause: err,
        meaning:
          `larger than this device accepts: ask its limit with maxMessageSize(). The most a device may take is kbusd's --max-message-size, by default ${DEFAULT_LIMIT} bytes ` +
          "(1 MiB of data with a 1000-character name), or an embedded Engine's maxMessageSize; setMaxMessageSize() may have set it lower. Send less data, or raise the limit.",
      });
    }
    default:
      return nameError(err, name, true) ?? err;
  }
}

/** `err` from binding or unbinding `name`, said for this case. */
export function explainBindError(err: unknown, name: string): unknown {
  if (!(err instanceof KbusError)) return err;
  return nameError(err, name, false) ?? err;
}
