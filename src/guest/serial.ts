// The guest's ttyS0 as the host sees it: bytes decoded as UTF-8 into a raw transcript (what
// exec() parses) and a cleaned text (no terminal escape sequences, no CRs) that waitFor() scans.

import { normalizeOptionNames } from "../index.ts";
import type { SerialConsole, WaitOptions } from "./types.ts";

const ESC_SEQUENCE = /\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[()][A-Za-z0-9]|[^[()])/g;
/** An escape sequence cut off at the end of a chunk: kept back until the rest arrives. */
const ESC_UNFINISHED = /\x1b(?:\[[0-9;?]*[ -/]*|[()])?$/;

/** Drops terminal escape sequences (busybox's ESC[6n query, line-editor redraws). */
export function stripEscapes(s: string): string {
  return s.replace(ESC_SEQUENCE, "");
}

/** Drops terminal escape sequences and CRs. */
export function cleanText(s: string): string {
  return stripEscapes(s).replace(/\r/g, "");
}

interface Waiter {
  scan(): boolean;
}

export class Serial implements SerialConsole {
  private rawText = "";
  private cleaned = "";
  /** Raw text not yet cleaned (an unfinished escape sequence). */
  private held = "";
  private readonly decoder = new TextDecoder("utf-8");
  private readonly byte = new Uint8Array(1);
  private waiters = new Set<Waiter>();
  private listeners = new Set<(raw: string) => void>();
  private scanQueued = false;
  private closed: Error | undefined;

  constructor(private readonly sendFn: (text: string) => void) {}

  /** Feeds one byte from the UART. */
  pushByte(b: number): void {
    if (b < 0x80) this.push(String.fromCharCode(b));
    else {
      this.byte[0] = b;
      const ch = this.decoder.decode(this.byte, { stream: true }); // "" until a character is complete
      if (ch) this.push(ch);
    }
  }

  /** Feeds decoded text. */
  push(chunk: string): void {
    this.rawText += chunk;
    let s = this.held + chunk;
    const cut = s.search(ESC_UNFINISHED);
    if (cut >= 0 && s.length - cut < 32) {
      this.held = s.slice(cut);
      s = s.slice(0, cut);
    } else this.held = "";
    this.cleaned += cleanText(s);
    for (const fn of this.listeners) fn(chunk);
    this.recheck();
  }

  /** Runs the pending waits' tests again (soon): for tests that look at more than the console. */
  recheck(): void {
    if (this.waiters.size > 0 && !this.scanQueued) {
      // Scanned once per burst (v86 sends bytes one by one within a slice of guest time).
      this.scanQueued = true;
      queueMicrotask(() => {
        this.scanQueued = false;
        for (const w of [...this.waiters]) if (w.scan()) this.waiters.delete(w);
      });
    }
  }

  /** Replaces the whole transcript (a restored machine's console history). */
  reset(raw: string): void {
    this.rawText = "";
    this.cleaned = "";
    this.held = "";
    this.decoder.decode(); // drop a partial character
    this.push(raw);
  }

  /** Rejects every waiter and every later wait with `error`. */
  close(error: Error): void {
    this.closed = error;
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      w.scan();
    }
  }

  get failure(): Error | undefined {
    return this.closed;
  }

  /** Everything received, undecoded escapes and CRs included. */
  raw(): string {
    return this.rawText;
  }

  text(): string {
    return this.cleaned;
  }

  tail(chars = 4000): string {
    return this.cleaned.slice(-chars);
  }

  send(text: string): void {
    if (this.closed) throw this.closed;
    // v86 sends each character's low byte: non-ASCII text goes as its UTF-8 bytes.
    this.sendFn(/^[\x00-\x7f]*$/.test(text) ? text : Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join(""));
  }

  onData(fn: (raw: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Resolves with what `test` returns once it is not undefined (checked now and as output
   * arrives); rejects after `timeout` ms with `what` and the serial tail in the message.
   */
  until<T>(test: () => T | undefined, timeout: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const w: Waiter = {
        scan: () => {
          if (this.closed) {
            clearTimeout(timer);
            reject(new Error(`${this.closed.message} while waiting for ${what}`));
            return true;
          }
          let v: T | undefined;
          try {
            v = test();
          } catch (e) {
            clearTimeout(timer);
            reject(e);
            return true;
          }
          if (v === undefined) return false;
          clearTimeout(timer);
          resolve(v);
          return true;
        },
      };
      if (w.scan()) return;
      timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new SerialTimeoutError(`timed out after ${Math.round(timeout)} ms waiting for ${what}`, this.tail()));
      }, timeout);
      this.waiters.add(w);
    });
  }

  waitFor(pattern: RegExp | string, waitOptions: WaitOptions = {}): Promise<RegExpMatchArray> {
    let options: WaitOptions;
    try {
      options = normalizeOptionNames("wait", waitOptions, "serial.waitFor");
    } catch (e) {
      return Promise.reject(e);
    }
    const from = options.from ?? 0;
    const re = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
    // Unanchored search from `from` on; a global/sticky regex's lastIndex must not leak in.
    const search = new RegExp(re.source, re.flags.replace(/[gy]/g, ""));
    return this.until(() => {
      const m = this.cleaned.slice(from).match(search);
      if (!m) return undefined;
      m.index = (m.index ?? 0) + from;
      return m;
    }, options.timeoutMs ?? 30_000, `${typeof pattern === "string" ? JSON.stringify(pattern) : String(pattern)} on the serial console`);
  }
}

/** A wait on the console that ran out of time; `tail` is the console's end at that moment. */
export class SerialTimeoutError extends Error {
  constructor(message: string, readonly tail: string) {
    super(tail ? `${message}\n--- serial tail ---\n${tail}` : `${message} (the guest printed nothing on its serial console)`);
    this.name = "SerialTimeoutError";
  }
}
