import { totalmem } from 'node:os';
import { checkOptions, type OptionSpec } from '../wire/check-options.js';
import { DEFAULT_MAX_DATA_LENGTH, MAX_NAME_LENGTH } from '../wire/constants.js';
import { entireMessageLength } from '../wire/index.js';

/** The limits and settings of an engine, with the seed's defaults. */
export interface EngineOptions {
  /** Devices created at start (kbus_num_devices), 1 to 256. Default 1. */
  devices?: number;
  /** Each new Ksock's queue limit (CONFIG_KBUS_DEF_MAX_MESSAGES). Default 100. */
  maxMessages?: number;
  /** Size of the set-aside list of Replier Unbind Events (CONFIG_KBUS_MAX_UNSENT_UNBIND_MESSAGES). Default 1000. */
  maxUnsentUnbind?: number;
  /** Largest entire message accepted, in bytes (EMSGSIZE beyond it). Default: 1 MiB of data with a 1000-character name. */
  maxMessageSize?: number;
  /**
   * The most bytes of entire messages one Ksock's queue may hold: at or past
   * it, the queue is full, as at MAXMSGS messages. Default 64 MiB.
   */
  maxQueueBytes?: number;
  /**
   * The most bytes of entire messages all queues of all devices may hold
   * together: at or past it, every queue is full. Default the smaller of
   * 1 GiB and a quarter of the machine's memory.
   */
  maxTotalQueueBytes?: number;
  /** Start every device in verbose mode (as the VERBOSE ioctl sets it). */
  verbose?: boolean;
  /** Receives one line per event while a device is verbose (the seed's debug messages). */
  log?: (line: string) => void;
}

export interface ResolvedOptions {
  devices: number;
  maxMessages: number;
  maxUnsentUnbind: number;
  maxMessageSize: number;
  maxQueueBytes: number;
  maxTotalQueueBytes: number;
  verbose: boolean;
  log: (line: string) => void;
}

/** KBUS_MAX_NUM_DEVICES: device indexes run from 0 to 255. */
export const MAX_DEVICES = 256;
export const DEFAULT_MAX_MESSAGES = 100;
export const DEFAULT_MAX_UNSENT_UNBIND = 1000;
export const DEFAULT_MAX_MESSAGE_SIZE = entireMessageLength(
  MAX_NAME_LENGTH,
  DEFAULT_MAX_DATA_LENGTH,
);

export const DEFAULT_MAX_QUEUE_BYTES = 64 * 2 ** 20;

/** The default overall budget on this machine: the smaller of 1 GiB and a quarter of its memory. */
export function defaultMaxTotalQueueBytes(): number {
  return Math.min(2 ** 30, Math.floor(totalmem() / 4));
}

function positiveInteger(name: string, value: number, max = 0xffffffff): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be a whole number from 1 to ${max}, not ${value}`);
  }
  return value;
}

/** What each EngineOptions field takes (for checkOptions). */
export const ENGINE_OPTION_SPEC: OptionSpec = {
  devices: 'number',
  maxMessages: 'number',
  maxUnsentUnbind: 'number',
  maxMessageSize: 'number',
  maxQueueBytes: 'number',
  maxTotalQueueBytes: 'number',
  verbose: 'boolean',
  log: 'function',
};

/**
 * The options with their defaults. An unknown option or one of the wrong
 * type is a TypeError (`what` names the call), a number out of range a
 * RangeError.
 */
export function resolveOptions(
  options: EngineOptions = {},
  what = 'new Engine()',
  spec: OptionSpec = ENGINE_OPTION_SPEC,
): ResolvedOptions {
  checkOptions(what, options, spec);
  return {
    devices: positiveInteger('devices', options.devices ?? 1, MAX_DEVICES),
    maxMessages: positiveInteger('maxMessages', options.maxMessages ?? DEFAULT_MAX_MESSAGES),
    maxUnsentUnbind: positiveInteger(
      'maxUnsentUnbind',
      options.maxUnsentUnbind ?? DEFAULT_MAX_UNSENT_UNBIND,
    ),
    maxMessageSize: positiveInteger(
      'maxMessageSize',
      options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE,
      2 ** 31,
    ),
    maxQueueBytes: positiveInteger(
      'maxQueueBytes',
      options.maxQueueBytes ?? DEFAULT_MAX_QUEUE_BYTES,
      Number.MAX_SAFE_INTEGER,
    ),
    maxTotalQueueBytes: positiveInteger(
      'maxTotalQueueBytes',
      options.maxTotalQueueBytes ?? defaultMaxTotalQueueBytes(),
      Number.MAX_SAFE_INTEGER,
    ),
    verbose: options.verbose ?? false,
    // The engine does no I/O: without a log, verbose mode only changes the VERBOSE flag.
    log: options.log ?? (() => {}),
  };
}
