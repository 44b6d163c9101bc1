// A client of $.Service.Upper (see upper-service.ts): sends its argument as a request and
// prints the answer. Run with: node dist/examples/upper-client.js 'some text'
import { KbusError, Ksock } from '../src/index.js';

await using client = await Ksock.connect();
try {
  // Every request gets exactly one answer: the reply, or a status message from KBUS
  // (for instance $.KBUS.Replier.GoneAway if the service stopped before answering).
  const answer = await client.request('$.Service.Upper', process.argv[2] ?? 'hello', {
    timeout: 5000,
  });
  if (answer.kind === 'reply') console.log(answer.text());
  else console.log(`no reply: ${answer.name}`);
} catch (err) {
  // EADDRNOTAVAIL: nobody is the replier for the name, so the service is not running.
  if (err instanceof KbusError && err.code === 'EADDRNOTAVAIL') {
    console.error('the service is not running (no replier for $.Service.Upper)');
    process.exitCode = 1;
  } else throw err;
}
