// A slow link from one client, as a congested or distant uplink to Azure would be: a mode of the
// CONNECT proxy (connect-proxy.ts) that paces what one source address sends through its tunnels to
// the emulator. The fault matrix uses it to keep one backup's restic uploading, observably, for as
// long as the round needs, whatever the machine's speed. Pods reach the proxy from their own
// addresses (the nodes' CNI bridge does not masquerade), so one pod is slowed and the others are not.

import { Transform, type TransformCallback } from "node:stream";

export interface Throttle {
  /** Source address, as the proxy sees it (a pod's IP). */
  from: string;
  /** Upload rate for all of that source's tunnels together; 0 lifts the throttle. */
  bytesPerSecond: number;
}

/** Parses `PUT /throttle`'s body. Throws on anything but an address and a whole, non-negative rate. */
export function parseThrottle(body: string): Throttle {
  const v = JSON.parse(body || "{}") as Partial<Throttle>;
  if (typeof v.from !== "string" || !/^[0-9a-f.:]+$/i.test(v.from)) throw new Error(`from must be an IP address, not ${String(v.from)}`);
  if (!Number.isInteger(v.bytesPerSecond) || v.bytesPerSecond! < 0) throw new Error(`bytesPerSecond must be a whole number >= 0, not ${String(v.bytesPerSecond)}`);
  return { from: v.from, bytesPerSecond: v.bytesPerSecond! };
}

/** The IPv4 form of an address Node reports as IPv4-mapped IPv6. */
export function plainAddress(address: string | undefined): string {
  return (address ?? "").replace(/^::ffff:/, "");
}

/**
 * Pacing shared by every tunnel of one source: when a chunk of `bytes` may pass, given when the
 * link is next free (`nextFree`, ms) and the rate. Returns the wait and the new `nextFree`.
 */
export function pace(now: number, nextFree: number, bytes: number, bytesPerSecond: number): { waitMs: number; nextFree: number } {
  if (bytesPerSecond <= 0) return { waitMs: 0, nextFree: now };
  const start = Math.max(now, nextFree);
  return { waitMs: start - now, nextFree: start + (bytes * 1000) / bytesPerSecond };
}

/** Per-source pacing state; the rate is read per chunk, so a throttle applies to tunnels already open. */
export class Throttles {
  private readonly rates = new Map<string, number>();
  private readonly nextFree = new Map<string, number>();
  /** Bytes each source sent to the emulator since the proxy started: a caller can see an upload going. */
  private readonly sent = new Map<string, number>();

  /** Sets (or keeps) the source's rate; returns the bytes it sent so far, and whether the rate changed. */
  set(t: Throttle): { sent: number; changed: boolean } {
    const changed = (this.rates.get(t.from) ?? 0) !== t.bytesPerSecond;
    if (changed) this.nextFree.delete(t.from);
    if (t.bytesPerSecond > 0) this.rates.set(t.from, t.bytesPerSecond);
    else this.rates.delete(t.from);
    return { sent: this.sent.get(t.from) ?? 0, changed };
  }

  /** A stream the source's bytes go through on their way to the emulator. */
  stream(from: string): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) => {
        this.sent.set(from, (this.sent.get(from) ?? 0) + chunk.length);
        const rate = this.rates.get(from) ?? 0;
        if (rate === 0) return done(null, chunk);
        const p = pace(Date.now(), this.nextFree.get(from) ?? 0, chunk.length, rate);
        this.nextFree.set(from, p.nextFree);
        setTimeout(() => done(null, chunk), p.waitMs);
      },
    });
  }
}
