/**
 * The client stands on the protocol, not on the daemon or the engine: a
 * program that only connects loads neither, and the client's core loads
 * nothing of Node's (so that it can run in a browser).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

interface ImportGraph {
  /** Every specifier resolved while loading the entry (node: built-ins included). */
  specifiers: string[];
  /** The project's own modules loaded, relative to src/. */
  modules: string[];
}

/** Imports `entry` (relative to src/) in a fresh process and records every resolution. */
function importGraph(entry: string): ImportGraph {
  const url = new URL(`../../src/${entry}`, import.meta.url).href;
  const hooks = `
    let port;
    export function initialize(data) { port = data.port; }
    export async function resolve(specifier, context, next) {
      const resolved = await next(specifier, context);
      port.postMessage([specifier, resolved.url]);
      return resolved;
    }
  `;
  const script = `
    import { register } from 'node:module';
    const seen = [];
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (m) => seen.push(m));
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}), {
      data: { port: port2 },
      transferList: [port2],
    });
    await import(${JSON.stringify(url)});
    // Messages from the hooks' thread arrive in order: one more round trip flushes them.
    await new Promise((resolve) => setTimeout(resolve, 100));
    port1.close();
    console.log(JSON.stringify(seen));
  `;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(result.status, 0, result.stderr);
  const seen = JSON.parse(result.stdout) as [string, string][];
  const modules = seen
    .map(([, resolved]) => resolved)
    .filter((u) => u.startsWith('file:'))
    .map((u) => fileURLToPath(u))
    .filter((path) => path.startsWith(SRC))
    .map((path) => path.slice(SRC.length));
  return { specifiers: seen.map(([specifier]) => specifier), modules };
}

test('importing kbus/client loads no module of the engine or the daemon', () => {
  const { modules } = importGraph('client/index.js');
  assert.ok(modules.includes('client/core.js'), `the probe saw the client load: ${modules}`);
  assert.deepEqual(
    modules.filter((path) => path.startsWith('engine/') || path.startsWith('daemon/')),
    [],
  );
});

test('the client core loads no Node module, and no transport of ours that needs Node', () => {
  const { specifiers, modules } = importGraph('client/core.js');
  assert.ok(modules.includes('client/channel.js'), `the probe saw the core load: ${modules}`);
  assert.deepEqual(
    specifiers.filter((s) => s.startsWith('node:')),
    [],
  );
  assert.deepEqual(
    modules.filter((path) => /socket-transport|socket-path|engine\/|daemon\//.test(path)),
    [],
  );
});
