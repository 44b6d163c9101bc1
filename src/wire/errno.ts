/**
 * The Linux error numbers KBUS uses, with their usual meaning and the
 * particular meaning KBUS gives them (Kbus.txt, "Error numbers").
 */

export interface ErrnoInfo {
  readonly name: ErrnoName;
  readonly errno: number;
  /** What the number usually means (strerror). */
  readonly description: string;
  /** What it means when KBUS returns it, or '' if KBUS gives it no special meaning. */
  readonly kbus: string;
}

export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EINVAL: 22,
  EMFILE: 24,
  ENOTTY: 25,
  EPIPE: 32,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOMSG: 42,
  EBADMSG: 74,
  EMSGSIZE: 90,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ECONNREFUSED: 111,
  EALREADY: 114,
} as const;

export type ErrnoName = keyof typeof Errno;

const descriptions: Record<ErrnoName, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  EPIPE: 'Broken pipe',
  ENAMETOOLONG: 'File name too long',
  ENOLCK: 'No locks available',
  ENOMSG: 'No message of desired type',
  EBADMSG: 'Bad message',
  EMSGSIZE: 'Message too long',
  EADDRINUSE: 'Address already in use',
  EADDRNOTAVAIL: 'Cannot assign requested address',
  ECONNREFUSED: 'Connection refused',
  EALREADY: 'Operation already in progress',
};

// Kbus.txt "Error numbers", lightly reworded where the text describes
// the kernel module rather than the bus.
const kbusMeanings: Partial<Record<ErrnoName, string>> = {
  EADDRINUSE:
    'On attempting to bind a message name as replier: there is already a replier bound for this message.',
  EADDRNOTAVAIL:
    'On attempting to send a Request message: there is no replier bound for this message name. ' +
    "On attempting to send a Reply message: the sender of the original request (the Ksock in the Reply's 'to') is no longer connected.",
  EALREADY:
    'On attempting to write to a Ksock, when a previous send has returned EAGAIN. ' +
    'Either DISCARD the message, or wait (poll) for the send to complete and writing to be allowed.',
  EBADMSG:
    'On attempting to bind, unbind or send a message: the message name is not valid. ' +
    'On sending, this can also be because the message name is a wildcard.',
  EBUSY:
    "On attempting to send: for a Request, the replier's message queue is full; " +
    'for any message with ALL_OR_FAIL set, one of the targeted listener/replier queues was full.',
  ECONNREFUSED:
    "On attempting to send a Reply: the intended recipient (the original sender of the Request) is not expecting a Reply with that message id in its 'in_reply_to'. " +
    'This looks like a reply to the wrong message id or the wrong Ksock.',
  EINVAL: 'Something went wrong (generic error).',
  EMSGSIZE:
    'On attempting to write a message: data was written after the end of the message (after the final end guard), ' +
    'or the message is larger than this bus accepts.',
  ENAMETOOLONG: 'On attempting to bind, unbind or send a message: the message name is too long.',
  ENOENT: 'On attempting to open a Ksock: there is no such device.',
  ENOLCK:
    "On attempting to send a Request, when there is not enough room in the sender's message queue to guarantee that it can receive a reply " +
    'for every Request already sent, plus this one. Read some messages, or wait for replies to earlier Requests. ' +
    'The send has failed; no message id was assigned.',
  ENOMSG:
    'On attempting to send, when there is no message waiting to be sent (nothing written since the last send, or it was discarded).',
  EPIPE:
    "On attempting to send 'to' a specific replier: the replier with that id is no longer bound to the given message name.",
  EFAULT:
    'Memory allocation, copying or another internal operation failed; for an operation, its argument could not be accessed.',
  ENOMEM: 'Memory allocation failed.',
  EAGAIN:
    'On attempting to send: the message had ALL_OR_WAIT set, and one of the targeted listener/replier queues was full. ' +
    'On attempting to bind or unbind a replier when Replier Bind Events have been requested: a Ksock bound to receive ' +
    '"$.KBUS.ReplierBindEvent" has a full message queue, so the event cannot be delivered; the bind or unbind has not been done.',
  EBADF: 'The Ksock is not open, or not open for writing, or the operation came before OPEN.',
  ENOTTY: 'Unknown operation (ioctl) number.',
};

/**
 * The KBUS meaning of an errno in one particular case, where Kbus.txt gives
 * the number several: an error then says only the case that happened.
 */
export const KbusCaseMeaning = {
  /** Kbus.txt "Error numbers", EADDRNOTAVAIL, for a Request. */
  REQUEST_WITHOUT_REPLIER:
    'On attempting to send a Request message: there is no replier bound for this message name. ' +
    'Bind a replier to the name (bind(name, { replier: true })) before sending requests to it.',
  /** Kbus.txt "Error numbers", EADDRNOTAVAIL, for a Reply. */
  REPLY_TO_GONE:
    "On attempting to send a Reply message: the sender of the original request (the Ksock in the Reply's 'to') is no longer connected.",
  /** Kbus.txt "Error numbers", EINVAL, for a message given as bytes whose name is good. */
  MALFORMED_MESSAGE:
    'On attempting to send a message given as bytes: they are not one whole, well-formed message. ' +
    'Check its guards, its name and data lengths, and its final end guard (protocol.md "Messages on the wire").',
} as const;

export interface KbusErrorOptions extends ErrorOptions {
  /** The KBUS meaning of this case, in place of every meaning the number has. */
  meaning?: string;
}

const byName = new Map<string, ErrnoInfo>();
const byNumber = new Map<number, ErrnoInfo>();
for (const name of Object.keys(Errno) as ErrnoName[]) {
  const info: ErrnoInfo = Object.freeze({
    name,
    errno: Errno[name],
    description: descriptions[name],
    kbus: kbusMeanings[name] ?? '',
  });
  byName.set(name, info);
  byNumber.set(info.errno, info);
}

/** Every error number KBUS uses, in ascending order. */
export const errnoTable: readonly ErrnoInfo[] = [...byNumber.values()].sort(
  (a, b) => a.errno - b.errno,
);

/** Looks up an error by number (22) or name ('EINVAL', case-insensitive). */
export function errnoInfo(key: number | string): ErrnoInfo | undefined {
  if (typeof key === 'number') return byNumber.get(key);
  return byName.get(key.toUpperCase());
}

/**
 * The one error type of KBUS: `code` is the errno name, `errno` its number,
 * and the message says what it means to KBUS.
 */
export class KbusError extends Error {
  readonly code: ErrnoName;
  readonly errno: number;
  /** The KBUS meaning of this error number ('' if it has none). */
  readonly kbusMeaning: string;

  constructor(code: ErrnoName, detail?: string, options?: KbusErrorOptions) {
    const info = byName.get(code)!;
    const text = detail ? `${code}: ${detail}` : `${code}: ${info.description}`;
    const meaning = options?.meaning ?? info.kbus;
    super(meaning ? `${text} (${meaning})` : text, options);
    this.name = 'KbusError';
    this.code = code;
    this.errno = info.errno;
    this.kbusMeaning = meaning;
  }

  /** Builds the error for a (positive or negative) errno number. */
  static fromErrno(errno: number, detail?: string): KbusError {
    const info = byNumber.get(Math.abs(errno));
    if (!info) {
      const err = new KbusError('EINVAL', detail ?? `unknown error number ${errno}`);
      return err;
    }
    return new KbusError(info.name, detail);
  }
}

export function isKbusError(value: unknown, code?: ErrnoName): value is KbusError {
  return value instanceof KbusError && (code === undefined || value.code === code);
}
