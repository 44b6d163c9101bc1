/**
 * kbusd's log: one line per event on stderr, `<ISO time> <level> kbusd: <text>`,
 * at four levels. Below the chosen level a method is a no-op, and per-frame
 * detail (debug) is not even formatted: the daemon gives connections no log
 * callback unless the level is debug.
 */

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

export interface Logger {
  readonly level: LogLevel;
  /** True if lines of this level are written. */
  enabled(level: LogLevel): boolean;
  error(text: string): void;
  warn(text: string): void;
  info(text: string): void;
  debug(text: string): void;
  /** Writes a line of this level whatever the logger's level: for lines asked for explicitly. */
  write(level: LogLevel, text: string): void;
}

function ignore(_text: string): void {}

/**
 * A logger writing lines of `level` and above through `write` (stderr by
 * default). `now` is the clock, for tests.
 */
export function createLogger(
  level: LogLevel,
  write: (line: string) => void = (line) => process.stderr.write(line),
  now: () => Date = () => new Date(),
): Logger {
  const rank = LOG_LEVELS.indexOf(level);
  const enabled = (at: LogLevel) => LOG_LEVELS.indexOf(at) <= rank;
  const line = (at: LogLevel, text: string) =>
    write(`${now().toISOString()} ${at} kbusd: ${text}\n`);
  const writer = (at: LogLevel) => (enabled(at) ? (text: string) => line(at, text) : ignore);
  return {
    level,
    enabled,
    error: writer('error'),
    warn: writer('warn'),
    info: writer('info'),
    debug: writer('debug'),
    write: line,
  };
}
