/**
 * The npm package as `npm pack` would make it: a licence, metadata, no
 * install-time scripts (npm warns about them), no source maps pointing at
 * sources it does not ship, and no README link to a file it leaves out.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from './support/daemon.js';

interface PackResult {
  files: { path: string }[];
}

describe('the npm package', () => {
  let files: string[] = [];
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    license: string;
    keywords?: string[];
    scripts: Record<string, string>;
  };

  before(async () => {
    // --ignore-scripts: the tests run on the dist/ that `npm test` just built.
    const { stdout } = await promisify(execFile)(
      'npm',
      ['pack', '--dry-run', '--json', '--ignore-scripts'],
      { cwd: ROOT, maxBuffer: 16 * 2 ** 20 },
    );
    files = (JSON.parse(stdout) as PackResult[])[0]!.files.map((f) => f.path);
  });

  test('ships an MIT LICENSE of the kbus contributors, and keywords', () => {
    assert.ok(files.includes('LICENSE'));
    const licence = readFileSync(join(ROOT, 'LICENSE'), 'utf8');
    assert.match(licence, /^MIT License/);
    assert.match(licence, /Copyright \(c\) \d{4} kbus contributors/);
    assert.equal(pkg.license, 'MIT');
    assert.ok((pkg.keywords ?? []).includes('kbus'));
  });

  test('builds on npm ci, yet the packed package has no script that runs when installed', () => {
    for (const script of ['preinstall', 'install', 'postinstall']) {
      assert.equal(pkg.scripts[script], undefined, `scripts.${script}`);
    }
    // A clone's `npm ci` builds (prepare); npm warns of prepare in a packed
    // package, so packing takes it out of the manifest and puts it back after.
    assert.equal(pkg.scripts.prepare, 'npm run build');
    assert.match(pkg.scripts.prepack ?? '', /^npm run build && npm pkg delete scripts\.prepare$/);
    assert.equal(pkg.scripts.postpack, `npm pkg set scripts.prepare='${pkg.scripts.prepare}'`);
    assert.equal(Object.keys(pkg.scripts).at(-1), 'prepare', 'restored where it was, unchanged');
  });

  test('ships no source maps, and no JavaScript that names one', () => {
    assert.ok(
      files.some((f) => f.startsWith('dist/src/') && f.endsWith('.js')),
      'ships dist/src',
    );
    assert.deepEqual(
      files.filter((f) => f.endsWith('.map')),
      [],
    );
    assert.ok(!files.some((f) => f.startsWith('src/')), 'ships no TypeScript sources');
    const naming = files
      .filter((f) => f.endsWith('.js'))
      .filter((f) => readFileSync(join(ROOT, f), 'utf8').includes('sourceMappingURL'));
    assert.deepEqual(naming, []);
  });

  test('every file the README links to is shipped, and it says TypeScript needs @types/node', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const links = [...readme.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)].map((m) => m[1]!);
    assert.ok(links.length > 0);
    for (const link of links) assert.ok(files.includes(link), `README links to ${link}`);
    assert.match(readme, /@types\/node/);
  });
});
