/**
 * The addresses kbusd listens on and clients connect to, as URLs:
 * `unix:PATH`, `tcp://HOST:PORT`, `tls://HOST:PORT`, `ws://HOST:PORT/PATH`
 * and `wss://HOST:PORT/PATH` (docs/network.md). An IPv6 host is written in
 * brackets (`tcp://[::1]:7000`). Port 0 asks the system for a free port.
 */

export const KBUS_SCHEMES = ['unix', 'tcp', 'tls', 'ws', 'wss'] as const;
export type KbusScheme = (typeof KBUS_SCHEMES)[number];

export interface KbusUrl {
  readonly scheme: KbusScheme;
  /** The host without brackets ('' for unix). */
  readonly host: string;
  /** The port (0 for unix). */
  readonly port: number;
  /** The socket path for unix, else the WebSocket path ('/' if none; '' for tcp and tls). */
  readonly path: string;
}

/** A listen or connect address that is not one; the message says what is expected. */
export class KbusUrlError extends TypeError {
  readonly code = 'KBUS_BAD_URL';
}

const USAGE =
  'expected unix:PATH, tcp://HOST:PORT, tls://HOST:PORT, ws://HOST:PORT/PATH or wss://HOST:PORT/PATH';

/**
 * Does `text` look like a URL rather than a socket path? Any `scheme://`
 * does, so that `http://host` is refused as a scheme kbusd does not speak,
 * not looked for as a file.
 */
export function isKbusUrl(text: string): boolean {
  return /^(unix:|[a-z][a-z0-9+.-]*:\/\/)/i.test(text);
}

export function parseKbusUrl(text: string): KbusUrl {
  if (/^unix:/i.test(text)) {
    const path = text.slice(5).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new KbusUrlError(`'${text}' names no socket path: ${USAGE}`);
    return { scheme: 'unix', host: '', port: 0, path };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new KbusUrlError(`'${text}' is not a URL: ${USAGE}`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase() as KbusScheme;
  if (!KBUS_SCHEMES.includes(scheme) || scheme === 'unix') {
    throw new KbusUrlError(`'${text}': unknown scheme '${url.protocol}': ${USAGE}`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new KbusUrlError(`'${text}' names no host: ${USAGE}`);
  const web = scheme === 'ws' || scheme === 'wss';
  // WHATWG URLs drop a web scheme's default port.
  const port =
    url.port !== '' ? Number(url.port) : scheme === 'ws' ? 80 : scheme === 'wss' ? 443 : -1;
  if (port < 0) throw new KbusUrlError(`'${text}' names no port: ${USAGE}`);
  if (!web && url.pathname !== '' && url.pathname !== '/') {
    throw new KbusUrlError(`'${text}': a ${scheme} address has no path: ${USAGE}`);
  }
  return { scheme, host, port, path: web ? url.pathname || '/' : '' };
}

/** The URL text of an address (IPv6 hosts in brackets). */
export function formatKbusUrl(url: KbusUrl): string {
  if (url.scheme === 'unix') return `unix:${url.path}`;
  const host = url.host.includes(':') ? `[${url.host}]` : url.host;
  return `${url.scheme}://${host}:${url.port}${url.path}`;
}

/** Is `host` this machine only (127.0.0.0/8, ::1, localhost)? */
export function isLoopbackHost(host: string): boolean {
  return (
    host === 'localhost' ||
    host === '::1' ||
    /^127(\.\d{1,3}){3}$/.test(host) ||
    /^::ffff:127(\.\d{1,3}){3}$/i.test(host)
  );
}
