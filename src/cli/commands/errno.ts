import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import type { Command } from 'commander';
import { errnoInfo } from '../../wire/index.js';
import { CliError, CliErrorCode } from '../common.js';

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

/** What `kbus errno` prints, as the original's errno.py did. */
export function explainErrno(key: string): string {
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
  const hex = `0x${number.toString(16)}`;
  const system = getSystemErrorMap().get(-number)?.[1];
  const usual = info?.description ?? system;
  const description = usual ? `: ${usual}` : '';
  const head =
    asNumber !== undefined
      ? `Error ${number} (${hex}) is ${name}${description}`
      : `${name} is error ${number} (${hex})${description}`;
  return info?.kbus ? `${head}\n\nKBUS:\n${wrap(info.kbus)}\n` : `${head}\n`;
}

export function registerErrno(program: Command): void {
  program
    .command('errno')
    .description("an error number's usual meaning and its KBUS meaning")
    .argument('<number-or-name>', 'e.g. 32 or EPIPE')
    .addHelpText(
      'after',
      `
Examples:
  kbus errno 32
  kbus errno EADDRINUSE`,
    )
    .action((key: string) => {
      process.stdout.write(explainErrno(key));
    });
}
