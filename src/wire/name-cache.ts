/**
 * The last name a sender (or a link) used. A sender usually sends the same
 * name again and again; comparing its bytes is cheaper than making,
 * checking and hashing a new string each time.
 */
import { decodeLatin1 } from './latin1.js';

export class NameCache {
  private bytes = new Uint8Array(0);
  private name = '';

  /** The cached name if `bytes[at..at+length)` spell it. */
  match(bytes: Uint8Array, at: number, length: number): string | undefined {
    const cached = this.bytes;
    if (cached.length !== length) return undefined;
    for (let i = 0; i < length; i++) if (bytes[at + i] !== cached[i]) return undefined;
    return this.name;
  }

  /** The name `bytes[at..at+length)` spell: the cached one, or decoded (as Latin-1) and remembered. */
  read(bytes: Uint8Array, at: number, length: number): string {
    const cached = this.match(bytes, at, length);
    if (cached !== undefined) return cached;
    const name = decodeLatin1(bytes, at, length);
    this.remember(bytes, at, name);
    return name;
  }

  remember(bytes: Uint8Array, at: number, name: string): void {
    this.bytes = Uint8Array.prototype.slice.call(bytes, at, at + name.length);
    this.name = name;
  }
}
