import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import type { Command } from 'commander';
import { errnoInfo } from '../../wire/index.js';
import { CliError, CliErrorCode, type GlobalOptions } from '../common.js';

const systemNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, number]) => [number, name]),
);

function wrap(text: string, width = 76): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

/** What `kbus --json errno` prints: the number, its names and meanings. */
export interface ErrnoRecord {
  errno: number;
  name: string;
  hex: string;
  /** The usual (system) meaning, when known. */
  description?: string;
  /** What the error means from KBUS, when KBUS gives it one. */
  kbus?: string;
}

/** Looks up an error by number (decimal or 0x hex) or name, KBUS's table first. */
export function errnoRecord(key: string): ErrnoRecord {
  const asNumber = /^\d+$/.test(key)
    ? Number(key)
    : /^0x[0-9a-f]+$/i.test(key)
      ? Number(key)
      : undefined;
  const info = errnoInfo(asNumber ?? key.toUpperCase());
  let number = info?.errno ?? asNumber;
  let name = info?.name as string | undefined;
  if (info === undefined) {
    if (asNumber !== undefined) name = systemNames.get(asNumber);
    else {
      const upper = key.toUpperCase();
      const n = (constants.errno as Record<string, number>)[upper];
      if (n !== undefined) {
        name = upper;
        number = n;
      }
    }
  }
  if (number === undefined || name === undefined) {
    throw new CliError(
      CliErrorCode.USAGE,
      `'${key}' is not an error number or name this system knows`,
    );
  }
  const usual = info?.description ?? getSystemErrorMap().get(-number)?.[1];
  const record: ErrnoRecord = { errno: number, name, hex: `0x${number.toString(16)}` };
  if (usual) record.description = usual;
  if (info?.kbus) record.kbus = info.kbus;
  return record;
}

/** What `kbus errno` prints, as the original's errno.py did. */
export function explainErrno(key: string): string {
  const { errno, name, hex, description, kbus } = errnoRecord(key);
  const meaning = description ? `: ${description}` : '';
  const head = /^(\d+|0x[0-9a-f]+)$/i.test(key)
    ? `Error ${errno} (${hex}) is ${name}${meaning}`
    : `${name} is error ${errno} (${hex})${meaning}`;
  return kbus ? `${head}\n\nKBUS:\n${wrap(kbus)}\n` : `${head}\n`;
}

export function registerErrno(program: Command, globals: () => GlobalOptions): void {
  program
    .command('errno')
    .description("an error number's usual meaning and its KBUS meaning")
    .argument('<number-or-name>', 'e.g. 32 or EPIPE')
    .addHelpText(
      'after',
      `
Examples:
  kbus errno 32
  kbus errno EADDRINUSE
  kbus --json errno 99        (one object: errno, name, hex, description, kbus)`,
    )
    .action((key: string) => {
      const json = globals().json === true;
      process.stdout.write(json ? `${JSON.stringify(errnoRecord(key))}\n` : explainErrno(key));
    });
}
