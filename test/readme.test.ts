// The README's example is examples/quickstart.ts: check that the README shows
// exactly that code, and that running it prints what the README says.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function block(readme: string, fence: string, after = 0): { text: string; end: number } {
  const start = readme.indexOf(`\`\`\`${fence}\n`, after);
  assert.ok(start >= 0, `README has a \`\`\`${fence} block`);
  const from = start + fence.length + 4;
  const end = readme.indexOf('```\n', from);
  return { text: readme.slice(from, end), end };
}

test('the README example is examples/quickstart.ts and prints what the README shows', async () => {
  const readme = await readFile(join(root, 'README.md'), 'utf8');
  const source = await readFile(join(root, 'examples', 'quickstart.ts'), 'utf8');
  const code = block(readme, 'ts');
  const expectedCode = source
    .slice(source.indexOf('\n') + 1)
    .replace("'../src/index.js'", "'kbus'");
  assert.equal(code.text, expectedCode);

  const output = block(readme, 'text', code.end);
  const { stdout } = await promisify(execFile)(process.execPath, [
    join(root, 'dist', 'examples', 'quickstart.js'),
  ]);
  assert.equal(stdout, output.text);
});
