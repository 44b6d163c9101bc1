/**
 * A device agent's answers to another bus's requests (docs/cluster.md
 * section 7), with the engine in process and NATS replaced by a record of
 * what the agent publishes: a bus declared gone that was only late still
 * gets its answers; a bus that has started again as a new instance does not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AgentHost, DeviceAgent } from '../../src/cluster/device-agent.js';
import { inboxSubject, type Kind } from '../../src/cluster/subjects.js';
import { Engine } from '../../src/engine/index.js';
import { Flags, type Message, NO_ADDRESS, NO_ID } from '../../src/wire/index.js';

const HERE = 1;
const THERE = 2;

/** An agent host with no NATS: subscriptions kept, publications recorded. */
function fakeHost(engine: Engine) {
  const handlers = new Map<
    string,
    (m: Message, kind: Kind, from: number, except: number) => void
  >();
  const published: { subject: string; kind: Kind; message: Message }[] = [];
  const instances = new Map<number, string>([[THERE, 'first']]);
  const host: AgentHost = {
    busId: HERE,
    engine,
    isLive: () => true,
    instanceOf: (bus) => instances.get(bus),
    publish: (subject, kind, message) => {
      published.push({ subject, kind, message });
    },
    subscribe: (subject, onMessage) => {
      handlers.set(subject, onMessage);
      return () => handlers.delete(subject);
    },
    putInterest: () => {},
    dropClaim: () => {},
    log: () => {},
  };
  const deliver = (m: Message, kind: Kind, from: number) =>
    handlers.get(inboxSubject(0, HERE))!(m, kind, from, 0);
  return { host, published, instances, deliver };
}

/** A request from the other bus, as its agent publishes it. */
function requestFromThere(serial: number): Message {
  return {
    id: { networkId: THERE, serialNum: serial },
    inReplyTo: NO_ID,
    to: 0,
    from: 9,
    origFrom: { networkId: THERE, localId: 4 },
    finalTo: NO_ADDRESS,
    extra: 0,
    flags: Flags.WANT_A_REPLY,
    name: '$.asked',
    data: new TextEncoder().encode('question'),
  };
}

/** The other bus's request reaches a local replier, `between` happens, then the replier answers. */
async function answerAfter(between: (agent: DeviceAgent, instances: Map<number, string>) => void) {
  const engine = new Engine();
  const { host, published, instances, deliver } = fakeHost(engine);
  const agent = new DeviceAgent(host, 0);
  const replier = engine.open(0);
  replier.bind('$.asked', true);
  deliver(requestFromThere(5), 'request', THERE);
  const request = replier.nextMessage();
  assert.ok(request, 'the request reached the local replier');
  between(agent, instances);
  replier.sendMessage({
    name: '$.asked',
    inReplyTo: request.id,
    to: request.from,
    data: new TextEncoder().encode('answer'),
  });
  // The agent reads its queue in a microtask.
  await new Promise((resolve) => setImmediate(resolve));
  return published.filter((p) => p.kind === 'reply' && p.subject === inboxSubject(0, THERE));
}

test('an answer goes back to the bus that asked', async () => {
  const replies = await answerAfter(() => {});
  assert.equal(replies.length, 1);
  assert.deepEqual(replies[0]!.message.inReplyTo, { networkId: THERE, serialNum: 5 });
});

test('declared gone but heard from as the same instance since: it still gets its answer', async () => {
  // Its heartbeats were late; it may not have noticed, and only it answers its requesters.
  const replies = await answerAfter((agent) => agent.busGone(THERE));
  assert.equal(replies.length, 1);
  assert.equal(new TextDecoder().decode(replies[0]!.message.data), 'answer');
});

test('started again as a new instance: the answer is not sent (its ids start again)', async () => {
  const replies = await answerAfter((agent, instances) => {
    agent.busGone(THERE);
    instances.set(THERE, 'second');
  });
  assert.equal(replies.length, 0);
});

test('stopped cleanly: the answer is not sent', async () => {
  const replies = await answerAfter((agent, instances) => {
    agent.busGone(THERE);
    instances.delete(THERE);
  });
  assert.equal(replies.length, 0);
});
