#!/usr/bin/env node
// Builds the /dev/kbusN compatibility layer (compat/) when a C compiler is
// present; without one, says so in one line and succeeds, so that `npm ci`
// still gives a working kbus (everything but `kbus run`).
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cc = process.env.CC || 'cc';

function found(command) {
  const r = spawnSync(command, ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

if (!found(cc) || !found('make')) {
  console.log(
    'kbus: no C compiler found; the /dev/kbusN compatibility layer (kbus run) was not built. Install gcc and make, then run npm ci again.',
  );
  process.exit(0);
}

const r = spawnSync('make', ['-s', '-C', join(root, 'compat'), `CC=${cc}`], { stdio: 'inherit' });
process.exit(r.status ?? 1);
