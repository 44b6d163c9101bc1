/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time by
 * function, and by source file, largest first.
 *
 *     node dist/bench/cpuprofile.js FILE.cpuprofile [top=25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function shortUrl(url: string): string {
  if (url === '') return '';
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 6);
  return url.replace(/^file:\/\//, '').replace(/^node:/, 'node:');
}

function main(): void {
  const [file, topText] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: cpuprofile FILE.cpuprofile [top]');
    process.exit(2);
  }
  const top = Number(topText ?? 25);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = profile.endTime - profile.startTime;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const url = shortUrl(frame.url);
    const fn = `${frame.functionName || '(anonymous)'} ${url ? `${url}:${frame.lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    const key = url || frame.functionName;
    byFile.set(key, (byFile.get(key) ?? 0) + us);
  }
  // "(idle)" is the event loop waiting: shares below are of the busy time.
  const busy = total - (byFunction.get('(idle) ') ?? 0);
  const print = (title: string, table: Map<string, number>) => {
    console.log(`\n${title} (ms, % of busy time)`);
    const rows = [...table]
      .filter(([name]) => !name.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top);
    for (const [name, us] of rows) {
      console.log(
        `  ${(us / 1000).toFixed(0).padStart(7)} ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${name}`,
      );
    }
  };
  console.log(
    `${file}: ${(total / 1e6).toFixed(2)} s profiled, ${(busy / 1e6).toFixed(2)} s busy, ${profile.samples.length} samples`,
  );
  print('Self time by function', byFunction);
  print('Self time by file', byFile);
}

main();
