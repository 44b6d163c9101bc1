// A listener that survives kbusd restarts: when its connection is lost it connects again
// (waiting for kbusd to come back) and binds again. Prints every message under $.Sensors
// until Ctrl-C (or, given a number, after that many). node dist/examples/survivor.js
import { ConnectionLostError, Ksock } from '../src/index.js';

const limit = process.argv[2] === undefined ? Number.POSITIVE_INFINITY : Number(process.argv[2]);
const stop = new AbortController();
process.once('SIGINT', () => stop.abort());

/** Connects to kbusd, trying again (up to every 2 s) while nobody serves the socket. */
async function connectWhenUp(): Promise<Ksock | undefined> {
  for (let wait = 50; !stop.signal.aborted; wait = Math.min(wait * 2, 2000)) {
    try {
      return await Ksock.connect();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ECONNREFUSED') throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return undefined;
}

let seen = 0;
while (seen < limit) {
  const ksock = await connectWhenUp();
  if (ksock === undefined) break; // Ctrl-C while waiting
  try {
    await ksock.bind('$.Sensors.*');
    console.log('listening to $.Sensors.*');
    for await (const message of ksock.messages({ signal: stop.signal })) {
      console.log(`${message.name}: ${message.text()}`);
      if (++seen >= limit) break;
    }
    if (stop.signal.aborted) break;
  } catch (err) {
    // kbusd stopped or died: anything else is a real error.
    if (!(err instanceof ConnectionLostError)) throw err;
    console.log('kbusd went away: connecting again');
  } finally {
    await ksock.close();
  }
}
