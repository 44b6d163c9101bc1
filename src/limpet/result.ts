/** How a running Limpet stops: the result its `closed` promise resolves with. */
import type { LinkError } from './link-codec.js';

/** Why a running Limpet stopped: the `reason` of its `closed` result. */
export const LimpetStop = {
  /** It read the termination message on its bus. */
  TERMINATED: 'terminated',
  /** Its `signal` was aborted. */
  ABORTED: 'aborted',
  /** `close()` was called. */
  CLOSED: 'closed',
  /** The peer closed the link. */
  LINK_CLOSED: 'link-closed',
  /** The link failed (a socket error). */
  LINK_FAILED: 'link-failed',
  /** The peer sent something that breaks the link protocol (limpet.md section 4). */
  LINK_BROKEN: 'link-broken',
  /** The connection to the daemon was lost. */
  DAEMON_LOST: 'daemon-lost',
} as const;
export type LimpetStop = (typeof LimpetStop)[keyof typeof LimpetStop];

/** How a Limpet stopped. The first reason wins; later ones are not reported. */
export type LimpetResult =
  | { reason: 'terminated' /** The termination message's name. */; name: string }
  | { reason: 'aborted' | 'closed' | 'link-closed' }
  | { reason: 'link-failed'; error: Error }
  | { reason: 'link-broken'; error: LinkError }
  | { reason: 'daemon-lost' /** Why reading from the daemon failed, if it did. */; error?: Error };
