// Run with: npm run build && node dist/examples/quickstart.js
import { Engine, Flags } from '../src/index.js';

const bus = new Engine(); // one device, /dev/kbus0 in the original
const sensor = bus.open(0);
const display = bus.open(0);
const thermostat = bus.open(0);

display.bind('$.Sensors.*'); // hear everything under $.Sensors
thermostat.bind('$.Sensors.Kitchen.Temperature', true); // the one replier

sensor.sendMessage({ name: '$.Sensors.Kitchen.Door', data: Buffer.from('open') });
sensor.sendMessage({ name: '$.Sensors.Kitchen.Temperature', flags: Flags.WANT_A_REPLY });

const request = thermostat.nextMessage()!;
thermostat.sendMessage({
  name: request.name,
  to: request.from,
  inReplyTo: request.id,
  data: Buffer.from('21C'),
});

for (let m = display.nextMessage(); m; m = display.nextMessage()) {
  console.log(`display heard ${m.name} from ${m.from}: '${Buffer.from(m.data)}'`);
}
const reply = sensor.nextMessage()!;
console.log(
  `sensor got reply ${reply.id.serialNum} to ${reply.inReplyTo.serialNum}: '${Buffer.from(reply.data)}'`,
);
