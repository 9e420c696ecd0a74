// The VGA text screen as lines, kept from v86's "screen-put-char" bus events: what SeaBIOS, a
// boot loader or a guest without a serial console shows, under Node as in a page (v86 sends
// the events whether or not it draws a screen).

import type { V86 } from "v86";

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

  /** Calls `fn` after each character drawn; returns the unsubscribe function. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
