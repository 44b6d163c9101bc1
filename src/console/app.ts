/// <reference lib="dom" />
/**
 * The console: a single page served by kbusd --http. It reads the bus's
 * state from GET /api/state every second (devices, Ksocks, bindings,
 * counters), and takes part in the bus through the browser client: a tap
 * is a listening Ksock, the send form uses a Ksock of its own. Views are
 * chosen by the URL's hash (#/, #/bindings, #/tap, #/send), so the back
 * button works.
 */
import { type KbusMessage, Ksock } from '../browser/index.js';
import { clusterCard, limpetCard } from './cards.js';
import { fill, fillBar, h, rateChart } from './dom.js';
import {
  BusModel,
  type BusState,
  bindingLabel,
  bindingTree,
  HISTORY_MS,
  type NameNode,
} from './model.js';

const POLL_MS = 1000;
/** The tap's queue: small, as a tap must not hold the bus's memory; it says when it missed. */
const TAP_MAX_MESSAGES = 64;
/** The most tapped messages shown. */
const TAP_SHOWN = 200;
const MODES = ['', 'r', 'w', 'rw'];

interface Settings {
  url: string;
  token: string;
}

function text(m: KbusMessage): string {
  try {
    const t = m.text();
    // biome-ignore lint/suspicious/noControlCharactersInRegex: binary data shows as bytes
    if (!/[\u0000-\u0008\u000e-\u001f]/.test(t)) return JSON.stringify(t);
  } catch {
    // Not text: shown as bytes below.
  }
  return `${m.data.length} bytes`;
}

function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

class Tap {
  missed = 0;
  readonly messages: KbusMessage[] = [];
  private readonly stop = new AbortController();

  private constructor(
    readonly ksock: Ksock,
    readonly pattern: string,
    readonly device: number,
  ) {}

  static async start(settings: Settings, device: number, pattern: string, onMessage: () => void) {
    const ksock = await Ksock.connect(settings.url, { device, mode: 'r', ...token(settings) });
    try {
      await ksock.maxMessages(TAP_MAX_MESSAGES);
      await ksock.bind(pattern);
      // Only a label for this console and others: a refusal is no reason to stop.
      await ksock.describe({ kind: 'console tap', pattern }).catch(() => {});
    } catch (err) {
      await ksock.close();
      throw err;
    }
    const tap = new Tap(ksock, pattern, device);
    void (async () => {
      for await (const m of ksock.messages({ signal: tap.stop.signal })) {
        tap.messages.unshift(m);
        if (tap.messages.length > TAP_SHOWN) tap.messages.pop();
        onMessage();
      }
    })().catch(() => {});
    return tap;
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.ksock.close();
  }
}

function token(settings: Settings): { token?: string } {
  return settings.token === '' ? {} : { token: settings.token };
}

export class ConsoleApp {
  private readonly model = new BusModel();
  private readonly settings: Settings;
  private tap: Tap | undefined;
  private readonly senders = new Map<number, Promise<Ksock>>();
  private view: (() => void) | undefined;

  constructor(private readonly root: HTMLElement) {
    this.settings = {
      url: sessionStorage.getItem('kbus.url') ?? '',
      token: sessionStorage.getItem('kbus.token') ?? '',
    };
  }

  start(): void {
    window.addEventListener('hashchange', () => this.route());
    this.route();
    void this.poll();
    setInterval(() => void this.poll(), POLL_MS);
  }

  private async poll(): Promise<void> {
    const status = document.getElementById('status');
    try {
      // Under a policy, the state is for identities that may inspect the bus: send the token.
      const headers: Record<string, string> =
        this.settings.token === '' ? {} : { authorization: `Bearer ${this.settings.token}` };
      const res = await fetch('/api/state', { cache: 'no-store', headers });
      if (res.status === 401) {
        if (status)
          fill(status, 'the policy needs a token that may inspect the bus: enter it under Tap');
        return;
      }
      const state = (await res.json()) as BusState;
      this.model.update(state);
      if (this.settings.url === '') this.settings.url = this.model.webSocketUrls()[0] ?? '';
      if (status) fill(status, `updated ${new Date(state.time).toLocaleTimeString()}`);
      this.view?.();
    } catch (err) {
      if (status) fill(status, `kbusd unreachable: ${(err as Error).message}`);
    }
  }

  private route(): void {
    const route = location.hash.replace(/^#\/?/, '') || 'devices';
    for (const a of Array.from(document.querySelectorAll('nav a'))) {
      a.classList.toggle(
        'current',
        a.getAttribute('href') === `#/${route === 'devices' ? '' : route}`,
      );
    }
    const main = this.root;
    main.replaceChildren();
    switch (route) {
      case 'bindings':
        this.view = this.bindingsView(main);
        break;
      case 'tap':
        this.view = this.tapView(main);
        break;
      case 'send':
        this.view = this.sendView(main);
        break;
      default:
        this.view = this.devicesView(main);
    }
    this.view();
  }

  private devicesView(main: HTMLElement): () => void {
    const box = h('div', { id: 'devices' });
    main.append(box);
    return () => {
      const state = this.model.state;
      if (state === undefined) return;
      const last = this.model.history.at(-1);
      fill(
        box,
        h(
          'section',
          { class: 'card' },
          h('h2', {}, 'Messages per second'),
          rateChart(this.model.history, state.time, HISTORY_MS),
          h(
            'p',
            { class: 'legend' },
            ...state.devices.map((d) =>
              h(
                'span',
                { class: `dev dev${d.index % 6}` },
                `device ${d.index}: ${Math.round(last?.perDevice[d.index] ?? 0)}/s`,
              ),
            ),
          ),
          h(
            'p',
            {},
            'Queued bytes, all devices: ',
            fillBar(
              state.queuedBytes,
              state.maxTotalQueueBytes,
              `${bytes(state.queuedBytes)} of ${bytes(state.maxTotalQueueBytes)}`,
            ),
          ),
        ),
        ...state.devices.map((d) =>
          h(
            'section',
            { class: 'card device', 'data-device': d.index },
            h('h2', {}, `Device ${d.index}`),
            h(
              'p',
              { class: 'figures' },
              `${d.ksocks.length} Ksocks · sent ${d.sent} · delivered ${d.delivered} · missed ${d.missed} · requests outstanding ${d.requestsOutstanding} · queued ${d.queuedMessages} (${bytes(d.queuedBytes)})`,
            ),
            h(
              'div',
              { class: 'scroll' },
              h(
                'table',
                { class: 'ksocks' },
                h(
                  'thead',
                  {},
                  h(
                    'tr',
                    {},
                    ...[
                      'Ksock',
                      'pid (identity)',
                      'mode',
                      'bindings',
                      'queue',
                      'bytes',
                      'unreplied',
                      'in/s',
                      'out/s',
                    ].map((t) => h('th', {}, t)),
                  ),
                ),
                h(
                  'tbody',
                  {},
                  ...d.ksocks.map((k) => {
                    const rate = this.model.ksockRates(d.index, k);
                    return h(
                      'tr',
                      {
                        class: 'ksock',
                        'data-id': k.id,
                        'data-sent': k.sent,
                        'data-received': k.received,
                      },
                      h(
                        'td',
                        {},
                        typeof k.about?.kind === 'string' ? `${k.id} (${k.about.kind})` : k.id,
                      ),
                      h('td', {}, k.identity === undefined ? k.pid : `${k.pid} (${k.identity})`),
                      h('td', {}, MODES[k.mode] ?? k.mode),
                      h(
                        'td',
                        { class: 'names' },
                        k.bindings.map((b) => bindingLabel(state.cluster, d.index, b)).join(', '),
                      ),
                      h('td', {}, fillBar(k.queued, k.maxMessages, `${k.queued}/${k.maxMessages}`)),
                      h(
                        'td',
                        {},
                        fillBar(k.queuedBytes, state.maxQueueBytes, bytes(k.queuedBytes)),
                      ),
                      h('td', {}, k.unrepliedTo),
                      h('td', {}, rate.in.toFixed(1)),
                      h('td', {}, rate.out.toFixed(1)),
                    );
                  }),
                ),
              ),
            ),
            h('h3', {}, 'Status messages KBUS generated'),
            h(
              'ul',
              { class: 'status-counts' },
              ...Object.entries(d.status)
                .filter(([, n]) => n > 0)
                .map(([name, n]) => h('li', { 'data-name': name }, `${name}: ${n}`)),
            ),
          ),
        ),
        ...limpetCard(this.model),
        ...(state.cluster === undefined ? [] : [clusterCard(state.cluster)]),
        h(
          'section',
          { class: 'card' },
          h('h2', {}, 'Listeners'),
          h(
            'ul',
            {},
            ...state.listeners.map((l) =>
              h(
                'li',
                {},
                `${l.name}: ${l.open} open, ${l.accepted} accepted${Object.keys(l.refused).length ? `, refused ${JSON.stringify(l.refused)}` : ''}`,
              ),
            ),
          ),
        ),
      );
    };
  }

  private bindingsView(main: HTMLElement): () => void {
    const box = h('div', { id: 'bindings' });
    main.append(box);
    const tree = (node: NameNode, path: string): HTMLElement =>
      h(
        'ul',
        {},
        ...[...node.children.values()].map((child) => {
          const name = path === '' ? child.part : `${path}.${child.part}`;
          const who = [
            child.repliers.length
              ? h('span', { class: 'replier' }, `replier ${child.repliers.join(', ')}`)
              : null,
            child.listeners.length
              ? h('span', { class: 'listener' }, `listeners ${child.listeners.join(', ')}`)
              : null,
          ];
          return h(
            'li',
            { 'data-name': name },
            h('code', {}, child.part),
            ' ',
            ...who,
            child.children.size ? tree(child, name) : null,
          );
        }),
      );
    return () => {
      const state = this.model.state;
      if (state === undefined) return;
      fill(
        box,
        ...state.devices.map((d) =>
          h(
            'section',
            { class: 'card' },
            h('h2', {}, `Device ${d.index}`),
            tree(bindingTree(d), ''),
          ),
        ),
      );
    };
  }

  private connectionForm(): HTMLElement {
    const url = h('input', {
      id: 'ws-url',
      value: this.settings.url,
      placeholder: 'ws://host:port/path',
      size: 30,
    });
    const tok = h('input', {
      id: 'ws-token',
      type: 'password',
      value: this.settings.token,
      placeholder: 'token (if a policy needs one)',
    });
    const save = () => {
      this.settings.url = url.value.trim();
      this.settings.token = tok.value;
      sessionStorage.setItem('kbus.url', this.settings.url);
      sessionStorage.setItem('kbus.token', this.settings.token);
      this.senders.clear();
    };
    url.addEventListener('change', save);
    tok.addEventListener('change', save);
    return h(
      'p',
      { class: 'connection' },
      h('label', {}, 'WebSocket ', url),
      ' ',
      h('label', {}, 'Token ', tok),
    );
  }

  private tapView(main: HTMLElement): () => void {
    const pattern = h('input', {
      id: 'tap-pattern',
      value: this.tap?.pattern ?? '$.*',
      required: true,
    });
    const device = h('input', {
      id: 'tap-device',
      type: 'number',
      min: 0,
      value: this.tap?.device ?? 0,
      size: 3,
    });
    const go = h('button', { id: 'tap-start', type: 'submit' }, this.tap ? 'Restart' : 'Start');
    const stop = h('button', { id: 'tap-stop', type: 'button' }, 'Stop');
    const info = h('p', { id: 'tap-info' });
    const list = h('ol', { id: 'tap-messages', class: 'messages' });
    const form = h(
      'form',
      {},
      h('label', {}, 'Names ', pattern),
      ' ',
      h('label', {}, 'Device ', device),
      ' ',
      go,
      ' ',
      stop,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void (async () => {
        await this.tap?.close();
        this.tap = undefined;
        try {
          this.tap = await Tap.start(
            this.settings,
            Number(device.value),
            pattern.value.trim(),
            () => update(),
          );
          fill(info, `tapping ${this.tap.pattern} as Ksock ${this.tap.ksock.id}`);
        } catch (err) {
          fill(info, h('span', { class: 'error' }, `cannot tap: ${(err as Error).message}`));
        }
      })();
    });
    stop.addEventListener('click', () => {
      void this.tap?.close();
      this.tap = undefined;
      fill(info, 'stopped');
    });
    main.append(
      h(
        'section',
        { class: 'card' },
        h('h2', {}, 'Tap'),
        this.connectionForm(),
        form,
        info,
        h('p', { id: 'tap-missed' }),
        list,
      ),
    );
    const update = () => {
      const tap = this.tap;
      const missed = document.getElementById('tap-missed');
      if (tap === undefined) return;
      const mine = this.model.state?.devices[tap.device]?.ksocks.find((k) => k.id === tap.ksock.id);
      if (missed)
        fill(
          missed,
          mine && mine.missed > 0
            ? h(
                'span',
                { class: 'error' },
                `missed ${mine.missed} messages (its queue of ${TAP_MAX_MESSAGES} was full)`,
              )
            : '',
        );
      fill(
        list,
        ...tap.messages.map((m) =>
          h(
            'li',
            { 'data-kind': m.kind },
            h('b', {}, m.kind),
            ` ${m.name} from ${m.from} `,
            h('code', {}, text(m)),
          ),
        ),
      );
    };
    return update;
  }

  private sender(device: number): Promise<Ksock> {
    let ksock = this.senders.get(device);
    if (ksock === undefined) {
      ksock = Ksock.connect(this.settings.url, { device, ...token(this.settings) }).then(
        async (k) => {
          await k.describe({ kind: 'console sender' }).catch(() => {});
          return k;
        },
      );
      ksock.catch(() => this.senders.delete(device));
      this.senders.set(device, ksock);
    }
    return ksock;
  }

  private sendView(main: HTMLElement): () => void {
    const name = h('input', { id: 'send-name', value: '$.Console.Hello', required: true });
    const data = h('input', { id: 'send-data', value: '' });
    const kind = h(
      'select',
      { id: 'send-kind' },
      h('option', { value: 'announce' }, 'announcement'),
      h('option', { value: 'request' }, 'request'),
    );
    const device = h('input', { id: 'send-device', type: 'number', min: 0, value: 0, size: 3 });
    const result = h('p', { id: 'send-result' });
    const form = h(
      'form',
      {},
      h('label', {}, 'Name ', name),
      ' ',
      h('label', {}, 'Data ', data),
      ' ',
      kind,
      ' ',
      h('label', {}, 'Device ', device),
      ' ',
      h('button', { id: 'send-go', type: 'submit' }, 'Send'),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      fill(result, '…');
      void (async () => {
        try {
          const ksock = await this.sender(Number(device.value));
          if (kind.value === 'request') {
            const reply = await ksock.request(name.value, data.value, { timeout: 10_000 });
            fill(
              result,
              h('b', { 'data-kind': reply.kind }, reply.kind),
              ` ${reply.name} from ${reply.from}: `,
              h('code', { class: 'reply-data' }, text(reply)),
            );
          } else {
            const id = await ksock.announce(name.value, data.value);
            fill(result, `sent as message ${id.networkId}:${id.serialNum}`);
          }
        } catch (err) {
          const code = (err as { code?: string }).code;
          fill(
            result,
            h(
              'span',
              { class: 'error', 'data-code': code },
              `${code ?? 'error'}: ${(err as Error).message}`,
            ),
          );
        }
      })();
    });
    main.append(
      h('section', { class: 'card' }, h('h2', {}, 'Send'), this.connectionForm(), form, result),
    );
    return () => {};
  }
}

const root = document.getElementById('main');
if (root) new ConsoleApp(root).start();
