/**
 * The systemd units in contrib/systemd: checked with `systemd-analyze
 * verify` where the tool exists (with ExecStart pointing at this checkout's
 * bin/, as the installed path need not exist here), and always parsed:
 * sections, keys, and the settings the docs promise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ROOT, tempDir } from '../support/daemon.js';

const DIR = join(ROOT, 'contrib', 'systemd');
const UNITS = ['kbusd.service', 'kbus-limpet@.service'];
const SECTIONS = ['Unit', 'Service', 'Install'];

type Unit = Map<string, Map<string, string[]>>;

/** Parses a unit file; fails on a line that is neither a section, a key=value, a comment nor blank. */
function parseUnit(name: string, text: string): Unit {
  const unit: Unit = new Map();
  let section: Map<string, string[]> | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const header = /^\[([A-Za-z]+)\]$/.exec(line);
    if (header) {
      assert.ok(!unit.has(header[1]!), `${name}:${i + 1}: [${header[1]}] twice`);
      section = new Map();
      unit.set(header[1]!, section);
      return;
    }
    const pair = /^([A-Za-z][A-Za-z0-9]*)=(.*)$/.exec(line);
    assert.ok(pair, `${name}:${i + 1}: not key=value: ${raw}`);
    assert.ok(section, `${name}:${i + 1}: a key before any section`);
    section.set(pair[1]!, [...(section.get(pair[1]!) ?? []), pair[2]!]);
  });
  return unit;
}

function value(unit: Unit, section: string, key: string): string | undefined {
  return unit.get(section)?.get(key)?.at(-1);
}

function hasTool(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

describe('contrib/systemd units', () => {
  const dirs: { remove: () => void }[] = [];
  after(() => {
    for (const dir of dirs) dir.remove();
  });
  const units = new Map(
    UNITS.map((name) => [name, parseUnit(name, readFileSync(join(DIR, name), 'utf8'))]),
  );

  test('parse: sections, keys, an absolute ExecStart, Restart=on-failure', () => {
    for (const [name, unit] of units) {
      assert.deepEqual([...unit.keys()], SECTIONS, `${name}: sections`);
      const exec = value(unit, 'Service', 'ExecStart');
      assert.ok(exec, `${name}: ExecStart`);
      assert.match(exec, /^\/\S+\/kbusd? /, `${name}: ExecStart is an absolute path to kbus(d)`);
      assert.equal(value(unit, 'Service', 'Restart'), 'on-failure', `${name}: Restart`);
      assert.equal(value(unit, 'Service', 'Group'), 'kbus', `${name}: Group`);
      assert.equal(value(unit, 'Service', 'RestartPreventExitStatus'), '64', `${name}`);
      assert.ok(value(unit, 'Install', 'WantedBy'), `${name}: WantedBy`);
    }
    const kbusd = units.get('kbusd.service')!;
    assert.equal(value(kbusd, 'Service', 'Type'), 'notify');
    assert.equal(value(kbusd, 'Service', 'NotifyAccess'), 'all', 'systemd-notify is a child');
    assert.equal(value(kbusd, 'Service', 'RuntimeDirectory'), 'kbus');
    const exec = value(kbusd, 'Service', 'ExecStart')!;
    assert.match(exec, / --socket \/run\/kbus\/kbus\.sock /);
    assert.match(exec, / --socket-group kbus/);
    assert.match(exec, / --socket-mode 660/);
    const limpet = units.get('kbus-limpet@.service')!;
    assert.equal(value(limpet, 'Unit', 'Requires'), 'kbusd.service');
    assert.match(
      value(limpet, 'Service', 'ExecStart')!,
      / --socket \/run\/kbus\/kbus\.sock limpet /,
    );
  });

  test("kbusd accepts the unit's command line", () => {
    // Everything but the socket and its group, which need /run/kbus and the group kbus.
    const exec = value(units.get('kbusd.service')!, 'Service', 'ExecStart')!;
    const args = exec.split(/\s+/).slice(1);
    const mode = args[args.indexOf('--socket-mode') + 1]!;
    const out = execFileSync(process.execPath, [join(ROOT, 'bin', 'kbusd'), '--help'], {
      encoding: 'utf8',
    });
    for (const option of args.filter((a) => a.startsWith('--'))) assert.ok(out.includes(option));
    assert.match(mode, /^[0-7]{3}$/);
  });

  test('systemd-analyze verify, where it exists', (t) => {
    if (!hasTool('systemd-analyze')) {
      t.diagnostic('check that ran: parse only (no systemd-analyze on this machine)');
      return;
    }
    t.diagnostic('check that ran: systemd-analyze verify');
    const dir = tempDir('kbus-units-');
    dirs.push(dir);
    for (const name of UNITS) {
      const text = readFileSync(join(DIR, name), 'utf8')
        .replace('/usr/local/bin/kbusd ', `${join(ROOT, 'bin', 'kbusd')} `)
        .replace('/usr/local/bin/kbus ', `${join(ROOT, 'bin', 'kbus')} `);
      writeFileSync(join(dir.path, name), text);
    }
    // An instance of the template, as it would be started.
    const files = ['kbusd.service', 'kbus-limpet@link1.service'];
    writeFileSync(
      join(dir.path, 'kbus-limpet@link1.service'),
      readFileSync(join(dir.path, 'kbus-limpet@.service')),
    );
    const run = spawnSync('systemd-analyze', ['verify', ...files], {
      cwd: dir.path,
      encoding: 'utf8',
    });
    const said = `${run.stdout}${run.stderr}`;
    assert.equal(run.status, 0, said);
    // Unknown keys and bad values are only warnings: none may mention our units.
    const ours = said.split('\n').filter((line) => /kbus/.test(line));
    assert.deepEqual(ours, [], said);
  });
});
