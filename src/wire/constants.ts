/**
 * Constants of the KBUS message layout and semantics, as defined by the
 * original kernel module's `kbus_defns.h`.
 */

/** "Kbus" read as a little-endian 32-bit word: the first word of every message. */
export const START_GUARD = 0x7375624b;
/** "subK" read as a little-endian 32-bit word: the header's last word and the message's last word. */
export const END_GUARD = 0x4b627573;

/** Sixteen 32-bit words: the "entire" header without the C header's two pointer fields. */
export const HEADER_LENGTH = 64;

/**
 * Byte offsets of the header's words (kbus_defns.h `struct kbus_message_header`
 * without its two pointers; protocol.md "Messages on the wire").
 */
export const HeaderOffset = {
  START_GUARD: 0,
  ID_NETWORK: 4,
  ID_SERIAL: 8,
  IN_REPLY_TO_NETWORK: 12,
  IN_REPLY_TO_SERIAL: 16,
  TO: 20,
  FROM: 24,
  ORIG_FROM_NETWORK: 28,
  ORIG_FROM_LOCAL: 32,
  FINAL_TO_NETWORK: 36,
  FINAL_TO_LOCAL: 40,
  EXTRA: 44,
  FLAGS: 48,
  NAME_LENGTH: 52,
  DATA_LENGTH: 56,
  END_GUARD: 60,
  /** Where the name starts. */
  NAME: 64,
} as const;

/** A message name is at least "$." plus one character. */
export const MIN_NAME_LENGTH = 3;
/** Kbus.txt "Limits": names longer than this are ENAMETOOLONG. */
export const MAX_NAME_LENGTH = 1000;

/** Default for the largest message data this implementation accepts (1 MiB). */
export const DEFAULT_MAX_DATA_LENGTH = 1024 * 1024;

/** Kbus.txt "Message flags". The top 16 bits belong to the user; KBUS never touches them. */
export const Flags = {
  /** Set by the sender: this message is a Request. */
  WANT_A_REPLY: 1 << 0,
  /** Set by KBUS on the one copy the recipient must reply to. */
  WANT_YOU_TO_REPLY: 1 << 1,
  /** Set by KBUS on the Status messages it generates. */
  SYNTHETIC: 1 << 2,
  /** Add to the front of each recipient's queue rather than the back. */
  URGENT: 1 << 3,
  /** Send to every recipient or wait (EAGAIN) until that is possible. */
  ALL_OR_WAIT: 1 << 8,
  /** Send to every recipient or fail (EBUSY). */
  ALL_OR_FAIL: 1 << 9,
} as const;

/** Mask of the flag bits reserved for the user (KBUS never changes them). */
export const USER_FLAGS_MASK = 0xffff0000;

/** The names of the messages KBUS itself generates (kbus_defns.h). */
export const MessageNames = {
  REPLIER_GONEAWAY: '$.KBUS.Replier.GoneAway',
  REPLIER_IGNORED: '$.KBUS.Replier.Ignored',
  REPLIER_UNBOUND: '$.KBUS.Replier.Unbound',
  REPLIER_DISAPPEARED: '$.KBUS.Replier.Disappeared',
  ERROR_SENDING: '$.KBUS.ErrorSending',
  UNBIND_EVENTS_LOST: '$.KBUS.UnbindEventsLost',
  REPLIER_BIND_EVENT: '$.KBUS.ReplierBindEvent',
} as const;

/** poll(2) bits as the protocol uses them. */
export const Poll = {
  IN: 0x1,
  OUT: 0x4,
} as const;
