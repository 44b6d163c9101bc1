// A sensor: announces a kitchen temperature reading now and then, to whoever listens.
// Start kbusd first, then: node dist/examples/sensor.js [readings] [interval-ms]
import { setTimeout as sleep } from 'node:timers/promises';
import { Ksock } from '../src/index.js';

const readings = Number(process.argv[2] ?? 10);
const intervalMs = Number(process.argv[3] ?? 1000);

// The default socket: $KBUS_SOCKET, else where kbusd listens by default.
await using sensor = await Ksock.connect();
for (let i = 0; i < readings; i++) {
  const celsius = (20 + i / 2).toFixed(1);
  await sensor.announce('$.Sensors.Kitchen.Temperature', `${celsius}C`);
  console.log(`sent ${celsius}C`);
  if (i + 1 < readings) await sleep(intervalMs);
}
