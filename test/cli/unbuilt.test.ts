/**
 * `bin/kbus` and `bin/kbusd` run in a checkout that has not been built
 * (no dist/): one line saying to run `npm ci`, exit 1, no stack trace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ROOT, tempDir } from '../support/daemon.js';
import { within } from './helpers.js';

function run(script: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return within(
    new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr }))),
    `${script} to exit`,
  );
}

describe('bin/ scripts before the build', () => {
  for (const name of ['kbus', 'kbusd']) {
    test(`${name} with no dist/ says to run npm ci (one line, exit 1)`, async () => {
      const dir = tempDir('kbus-unbuilt-');
      try {
        // A checkout as cloned: package.json and bin/, nothing built.
        mkdirSync(join(dir.path, 'bin'));
        copyFileSync(join(ROOT, 'package.json'), join(dir.path, 'package.json'));
        copyFileSync(join(ROOT, 'bin', name), join(dir.path, 'bin', name));
        const result = await run(join(dir.path, 'bin', name), ['--help']);
        assert.equal(result.code, 1, result.stderr);
        assert.equal(result.stderr, `${name}: not built yet: run 'npm ci' in ${dir.path}/\n`);
      } finally {
        dir.remove();
      }
    });
  }
});
