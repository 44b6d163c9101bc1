// A display: prints every message under $.Sensors as it arrives, until Ctrl-C (or, given a
// number, after that many messages). Start kbusd first, then: node dist/examples/display.js
import { Ksock } from '../src/index.js';

const limit = process.argv[2] === undefined ? Number.POSITIVE_INFINITY : Number(process.argv[2]);

await using display = await Ksock.connect();
await display.bind('$.Sensors.*'); // every name below $.Sensors
console.log('listening to $.Sensors.*');

// Ctrl-C ends the loop below; leaving it closes the Ksock (await using).
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());

let seen = 0;
for await (const message of display.messages({ signal: stop.signal })) {
  console.log(`${message.name}: ${message.text()}`);
  if (++seen >= limit) break;
}
