/**
 * kbusd's HTTP listener (`kbusd --http HOST:PORT`): the metrics for
 * Prometheus, a health check, the console, and the browser client's
 * modules for the console and for plain pages. It reads the bus's state; it
 * changes nothing (the console acts on the bus through a Ksock of its own).
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CONSOLE_HTML } from '../console/page.js';
import { requestToken } from './listeners/network.js';
import { PROMETHEUS_CONTENT_TYPE } from './prometheus.js';

/** What the HTTP listener serves from. */
export interface HttpSource {
  /** Whether the daemon is serving its bus (listening, not stopping). */
  readonly serving: boolean;
  metricsText(): string;
  /** The console's snapshot of the bus (JSON). */
  state(): unknown;
  /**
   * Whether a request bearing `token` (or none) may read the bus's state:
   * under a policy, only an identity with an `inspect` rule, as for
   * BINDINGS and STATS; without one, anyone.
   */
  mayInspect(token: string | undefined): boolean;
}

/** The compiled modules a page may import under /js/: the browser client's import graph and the console. */
const MODULE_DIRS = new Set(['browser', 'client', 'console', 'protocol', 'wire']);
/** dist/src/, where this module's siblings are (it is dist/src/daemon/http.js). */
const MODULE_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** "HOST:PORT", "[::1]:PORT" or ":PORT" (all addresses) as host and port. */
export function parseHostPort(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const port = match === null ? Number.NaN : Number(match[3]);
  if (match === null || port > 65535) {
    throw new TypeError(`--http takes HOST:PORT (e.g. 127.0.0.1:8080), not '${text}'`);
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export class HttpListener {
  private readonly server: Server;
  private address_: AddressInfo | undefined;

  constructor(private readonly source: HttpSource) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) this.send(res, 500, 'text/plain', `${err.message}\n`);
        else res.destroy();
      });
    });
  }

  /** Listens; resolves with the address (port 0 picks a free one). */
  async listen(host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.removeListener('error', reject);
        resolve();
      });
    });
    this.address_ = this.server.address() as AddressInfo;
    return this.address_;
  }

  get address(): AddressInfo | undefined {
    return this.address_;
  }

  /** The server, for whoever shares its port (a WebSocket listener's upgrades). */
  get httpServer(): Server {
    return this.server;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://kbusd').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      this.send(res, 405, 'text/plain', 'only GET and HEAD\n');
      return;
    }
    // The bus's state names every Ksock and binding: the policy's `inspect` decides, as for STATS.
    if (
      (path === '/metrics' || path === '/api/state') &&
      !this.source.mayInspect(requestToken(req))
    ) {
      res.setHeader('www-authenticate', 'Bearer realm="kbusd"');
      this.send(
        res,
        401,
        'text/plain',
        'the policy lets only an identity with an inspect rule read this: send its token (Authorization: Bearer, ?token= or the kbus_token cookie)\n',
      );
      return;
    }
    if (path === '/metrics') {
      this.send(res, 200, PROMETHEUS_CONTENT_TYPE, this.source.metricsText());
    } else if (path === '/healthz') {
      const ok = this.source.serving;
      this.send(res, ok ? 200 : 503, 'text/plain', ok ? 'ok\n' : 'stopping\n');
    } else if (path === '/api/state') {
      this.send(res, 200, 'application/json', JSON.stringify(this.source.state()));
    } else if (path === '/' || path === '/index.html') {
      this.send(res, 200, 'text/html; charset=utf-8', CONSOLE_HTML);
    } else if (path === '/favicon.ico') {
      res.writeHead(204).end();
    } else if (path.startsWith('/js/')) {
      await this.module(path.slice('/js/'.length), res);
    } else {
      this.send(res, 404, 'text/plain', 'not found\n');
    }
  }

  /** A compiled module of the browser client or the console, as a page imports it. */
  private async module(rest: string, res: ServerResponse): Promise<void> {
    const parts = rest.split('/');
    const safe =
      parts.length >= 2 &&
      MODULE_DIRS.has(parts[0]!) &&
      parts.every((p) => /^[\w.-]+$/.test(p) && p !== '..' && p !== '.') &&
      rest.endsWith('.js');
    const text = safe
      ? await readFile(`${MODULE_ROOT}${rest}`, 'utf8').catch(() => undefined)
      : undefined;
    if (text === undefined) this.send(res, 404, 'text/plain', 'not found\n');
    else this.send(res, 200, 'text/javascript; charset=utf-8', text);
  }

  private send(res: ServerResponse, status: number, type: string, body: string): void {
    res.writeHead(status, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}
