// A service: the replier for $.Service.Upper, answering each request with its data in
// upper case, until Ctrl-C. Start kbusd first, then: node dist/examples/upper-service.js
import { Ksock } from '../src/index.js';

await using service = await Ksock.connect();
// Only one Ksock may be the replier for a name: a second one gets EADDRINUSE.
await service.bind('$.Service.Upper', { replier: true });
console.log('serving $.Service.Upper');

const stop = new AbortController();
process.once('SIGINT', () => stop.abort());

for await (const request of service.messages({ signal: stop.signal })) {
  // Listeners to the name would see requests too; only the replier's copy wants a reply.
  if (!request.wantsYouToReply) continue;
  await service.replyTo(request, request.text().toUpperCase());
}
