/// <reference lib="dom" />
/**
 * The console's cards for what links this bus to others: Limpet links
 * (from their Ksocks' descriptions) and, in cluster mode, the other buses
 * and the replier registry.
 */
import { h } from './dom.js';
import type { BusModel, ClusterState } from './model.js';

function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/**
 * Limpet links: each Limpet's network id and its peer's, its role and
 * address, how long it has been up and the messages crossing it each way
 * (its Ksock's: out of this bus is what it received, into it what it sent);
 * links that went down stay a while, marked gone. Nothing when there are none.
 */
export function limpetCard(model: BusModel): HTMLElement[] {
  const links = model.limpetLinks();
  const state = model.state;
  if (links.length === 0 || state === undefined) return [];
  return [
    h(
      'section',
      { class: 'card', id: 'limpets' },
      h('h2', {}, 'Limpet links'),
      h(
        'div',
        { class: 'scroll' },
        h(
          'table',
          {},
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...[
                'device',
                'Ksock',
                'Limpet',
                'peer',
                'link',
                'state',
                'to peer/s',
                'from peer/s',
              ].map((c) => h('th', {}, c)),
            ),
          ),
          h(
            'tbody',
            {},
            ...links.map((l) => {
              const ksock = state.devices[l.device]?.ksocks.find((k) => k.id === l.ksock);
              const rate =
                l.live && ksock !== undefined
                  ? model.ksockRates(l.device, ksock)
                  : { in: 0, out: 0 };
              return h(
                'tr',
                {
                  class: 'limpet',
                  'data-ksock': l.ksock,
                  'data-peer': l.peerId,
                  'data-live': String(l.live),
                },
                h('td', {}, l.device),
                h('td', {}, l.ksock),
                h('td', {}, l.networkId),
                h('td', {}, l.peerId),
                h('td', { class: 'names' }, `${l.role} ${l.link} (${l.filter})`),
                h(
                  'td',
                  {},
                  l.live
                    ? `up ${ago(state.time - l.since)}`
                    : `gone ${ago(state.time - (l.goneAt ?? state.time))} ago`,
                ),
                h('td', {}, rate.in.toFixed(1)),
                h('td', {}, rate.out.toFixed(1)),
              );
            }),
          ),
        ),
      ),
    ),
  ];
}

/** Cluster mode: this bus, the other buses and whether each is live, and the replier registry. */
export function clusterCard(cluster: ClusterState): HTMLElement {
  return h(
    'section',
    { class: 'card', id: 'cluster' },
    h('h2', {}, `Cluster: this is bus ${cluster.bus}`),
    h(
      'ul',
      { class: 'peers' },
      ...cluster.peers.map((p) =>
        h(
          'li',
          { 'data-bus': p.bus, 'data-live': p.live },
          `bus ${p.bus}: ${p.live ? 'live' : 'gone'}, heard ${(p.silentMs / 1000).toFixed(1)} s ago`,
        ),
      ),
    ),
    h('h3', {}, 'Repliers across the cluster'),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, ...['device', 'name', 'bus', 'Ksock'].map((c) => h('th', {}, c)))),
      h(
        'tbody',
        {},
        ...cluster.repliers.map((r) =>
          h(
            'tr',
            { class: 'remote-replier', 'data-name': r.name, 'data-bus': r.bus },
            h('td', {}, r.device),
            h('td', { class: 'names' }, r.name),
            h(
              'td',
              {},
              `${r.bus}${r.bus === cluster.bus ? ' (this bus)' : r.live ? '' : ' (gone)'}`,
            ),
            h('td', {}, r.ksock),
          ),
        ),
      ),
    ),
  );
}
