/**
 * kbus/browser stands on nothing of Node: every module its entry imports,
 * followed to the end, imports only other modules of the package by
 * relative path (no `node:` built-in, no npm package such as `ws`), so a
 * bundler needs no shims and a plain <script type="module"> can load it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../support/daemon.js';

/** Every static and dynamic import specifier in a compiled module. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/gm,
    /^\s*import\s*['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const m of source.matchAll(pattern)) found.push(m[1]!);
  return found;
}

/** The modules reachable from `entry`, and every specifier that is not a relative path. */
function graph(entry: string): { files: Set<string>; outside: string[] } {
  const files = new Set<string>();
  const outside: string[] = [];
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('./') || spec.startsWith('../')) visit(resolve(dirname(file), spec));
      else outside.push(`${relative(ROOT, file)} imports '${spec}'`);
    }
  };
  visit(entry);
  return { files, outside };
}

test('kbus/browser imports nothing outside the package, and nothing of Node', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const entry = join(ROOT, pkg.exports['./browser'].default);
  const { files, outside } = graph(entry);
  assert.deepEqual(outside, []);
  const names = [...files].map((f) => relative(join(ROOT, 'dist', 'src'), f));
  // It is the client's core and the shared codec, not the Node client or the daemon.
  assert.ok(names.includes('client/core.js'));
  assert.ok(names.includes('protocol/websocket-transport.js'));
  for (const name of names) {
    assert.doesNotMatch(name, /^(daemon|engine|cli|limpet)\//, name);
    assert.notEqual(name, 'client/ksock.js');
    assert.notEqual(name, 'client/network.js');
  }
});

test('the parser of this test finds the imports it must (a Node module is caught)', () => {
  const { outside } = graph(join(ROOT, 'dist', 'src', 'client', 'index.js'));
  assert.ok(outside.some((line) => line.includes("'node:net'")));
  assert.ok(outside.some((line) => line.includes("'ws'")));
});
