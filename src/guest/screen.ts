// The VGA text screen as lines, kept from v86's "screen-put-char" bus events: what SeaBIOS, a
// boot loader or a guest without a serial console shows, under Node as in a page (v86 sends
// the events whether or not it draws a screen).

import type { V86 } from "v86";
import type { ScreenWaitOptions } from "./types.ts";

/** Code page 437's characters above 0x7f that boot screens use (box drawing and blocks). */
const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ";

function glyph(c: number): string {
  if (c >= 0x20 && c < 0x7f) return String.fromCharCode(c);
  if (c >= 0x80) return CP437_HIGH[c - 0x80] ?? " ";
  return " ";
}

export class Screen {
  private rows: string[][] = [];
  private width = 80;
  private height = 25;
  private readonly listeners = new Set<() => void>();

  constructor(emulator: V86) {
    this.clear();
    emulator.add_listener("screen-put-char", ([row, col, chr]: [number, number, number]) => {
      if (row < 0 || col < 0 || row >= this.height || col >= this.width) return;
      this.rows[row][col] = glyph(chr);
      for (const fn of this.listeners) fn();
    });
    emulator.add_listener("screen-set-size", ([width, height, bpp]: [number, number, number]) => {
      // bpp 0: text mode. Graphics modes keep no text.
      this.width = bpp === 0 ? width : 0;
      this.height = bpp === 0 ? height : 0;
      this.clear();
    });
  }

  private clear(): void {
    this.rows = Array.from({ length: this.height }, () => Array<string>(this.width).fill(" "));
  }

  /** The text screen's lines, trailing spaces and empty last lines removed ([] in a graphics mode). */
  text(): string[] {
    const lines = this.rows.map((r) => r.join("").trimEnd());
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    return lines;
  }

  /**
   * Resolves with the first match on the screen (its lines joined by "\n"), looked for now and
   * after each character drawn; rejects after `timeoutMs` (default 30 s) quoting the screen.
   */
  waitFor(pattern: RegExp | string, options: ScreenWaitOptions = {}): Promise<RegExpMatchArray> {
    if (typeof pattern !== "string" && !(pattern instanceof RegExp)) return Promise.reject(new TypeError("screen.waitFor: the pattern must be a string or a RegExp"));
    const timeout = options.timeoutMs ?? 30_000;
    const what = typeof pattern === "string" ? JSON.stringify(pattern) : String(pattern);
    // A global/sticky regex's lastIndex must not leak in.
    const re = typeof pattern === "string" ? undefined : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
    const find = (): RegExpMatchArray | undefined => {
      const text = this.text().join("\n");
      if (re) return text.match(re) ?? undefined;
      const at = text.indexOf(pattern as string);
      if (at < 0) return undefined;
      const m = [pattern as string] as RegExpMatchArray;
      m.index = at;
      m.input = text;
      return m;
    };
    return new Promise((resolve, reject) => {
      const now = find();
      if (now) return resolve(now);
      let queued = false;
      const timer = setTimeout(() => {
        unwatch();
        const lines = this.text();
        reject(new Error(`screen.waitFor: ${what} did not appear on the VGA screen within ${timeout} ms; the screen shows:\n${lines.length ? lines.join("\n") : "(nothing: empty, or a graphics mode)"}`));
      }, timeout);
      // Looked for once per burst of characters (a screen redraw is thousands).
      const unwatch = this.onChange(() => {
        if (queued) return;
        queued = true;
        setTimeout(() => {
          queued = false;
          const m = find();
          if (!m) return;
          clearTimeout(timer);
          unwatch();
          resolve(m);
        }, 0);
      });
    });
  }

  /** Calls `fn` after each character drawn; returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
