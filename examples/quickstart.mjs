// The quickstart in plain JavaScript (Node 20 has no `await using`, so the Ksocks are
// closed in `finally`). Run with: npm run build && node examples/quickstart.mjs
import { Engine, Ksock } from 'kbus';

const bus = new Engine(); // in process; Ksock.connect() reaches a kbusd instead
const display = await Ksock.open(bus);
const thermostat = await Ksock.open(bus);
const sensor = await Ksock.open(bus);
try {
  await display.bind('$.Sensors.*'); // everything under $.Sensors
  await thermostat.bind('$.Sensors.Kitchen.Temperature', { replier: true });

  // The thermostat answers every request it is sent.
  void (async () => {
    for await (const m of thermostat) if (m.wantsYouToReply) await thermostat.replyTo(m, '21C');
  })();

  await sensor.announce('$.Sensors.Kitchen.Door', 'open');
  const reply = await sensor.request('$.Sensors.Kitchen.Temperature');
  console.log(`${reply.kind} from Ksock ${reply.from}: ${reply.text()}`);

  for (let i = 0; i < 3; i++) {
    const m = await display.receive();
    console.log(`display heard ${m.kind} ${m.name} from ${m.from}: '${m.text()}'`);
  }
} finally {
  await sensor.close();
  await thermostat.close();
  await display.close();
}
