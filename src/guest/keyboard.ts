// The guest's PS/2 keyboard: text and named keys ("Enter", "Ctrl+C", "F1", "ArrowUp") turned into
// scan code set 1 (what v86's keyboard controller hands the guest, as a PC's 8042 does after its
// translation) and sent through v86's keyboard_send_scancodes. A US layout, as v86's own
// keyboard_send_text assumes; it needs no browser (v86's keyboard adapter exists only in one).

import type { V86 } from "v86";

/** Make codes of the keys without the 0xE0 prefix, by the name press() takes. */
const PLAIN: Record<string, number> = {
  Escape: 0x01, Backspace: 0x0e, Tab: 0x0f, Enter: 0x1c, Ctrl: 0x1d, Shift: 0x2a, ShiftRight: 0x36,
  Alt: 0x38, Space: 0x39, CapsLock: 0x3a, NumLock: 0x45, ScrollLock: 0x46,
  F1: 0x3b, F2: 0x3c, F3: 0x3d, F4: 0x3e, F5: 0x3f, F6: 0x40, F7: 0x41, F8: 0x42, F9: 0x43, F10: 0x44, F11: 0x57, F12: 0x58,
};

/** Keys sent as 0xE0 then the code (their release: 0xE0 then the code | 0x80). */
const EXTENDED: Record<string, number> = {
  ArrowUp: 0x48, ArrowLeft: 0x4b, ArrowRight: 0x4d, ArrowDown: 0x50, Home: 0x47, End: 0x4f,
  PageUp: 0x49, PageDown: 0x51, Insert: 0x52, Delete: 0x53, CtrlRight: 0x1d, AltRight: 0x38, Meta: 0x5b,
};

/** Other names of the same keys (what people type, and DOM KeyboardEvent.key spellings). */
const ALIASES: Record<string, string> = {
  Esc: "Escape", Return: "Enter", Control: "Ctrl", ControlLeft: "Ctrl", ControlRight: "CtrlRight", ShiftLeft: "Shift",
  AltLeft: "Alt", Option: "Alt", Del: "Delete", Ins: "Insert", Up: "ArrowUp", Down: "ArrowDown", Left: "ArrowLeft",
  Right: "ArrowRight", PgUp: "PageUp", PgDn: "PageDown", " ": "Space", Win: "Meta", Super: "Meta", OS: "Meta",
};

/** The printable characters of a US layout: their key's make code and whether Shift is held. */
const CHARS = new Map<string, [code: number, shift: boolean]>();
{
  const rows: [string, string, number][] = [
    // unshifted, shifted, make code of the first key
    ["1234567890-=", "!@#$%^&*()_+", 0x02],
    ["qwertyuiop[]", "QWERTYUIOP{}", 0x10],
    ["asdfghjkl;'`", 'ASDFGHJKL:"~', 0x1e],
    ["\\zxcvbnm,./", "|ZXCVBNM<>?", 0x2b],
  ];
  for (const [plain, shifted, first] of rows) {
    for (let i = 0; i < plain.length; i++) {
      CHARS.set(plain[i], [first + i, false]);
      CHARS.set(shifted[i], [first + i, true]);
    }
  }
  CHARS.set(" ", [0x39, false]);
  CHARS.set("\n", [0x1c, false]);
  CHARS.set("\t", [0x0f, false]);
}

const MODIFIERS = new Set(["Ctrl", "CtrlRight", "Shift", "ShiftRight", "Alt", "AltRight", "Meta"]);

const NAMES = [...Object.keys(PLAIN), ...Object.keys(EXTENDED)];

/** A key's name as PLAIN and EXTENDED spell it (any case, or an alias), or undefined. */
function canonical(name: string): string | undefined {
  const n = ALIASES[name] ?? Object.entries(ALIASES).find(([a]) => a.toLowerCase() === name.toLowerCase())?.[1] ?? name;
  return NAMES.find((k) => k.toLowerCase() === n.toLowerCase());
}

/** One key's make code (with its 0xE0 prefix) and whether its character needs Shift; undefined: not a key. */
function keyCode(name: string): { make: number[]; shift: boolean } | undefined {
  const named = name.length > 1 || name === " " ? canonical(name) : undefined;
  if (named && named in PLAIN) return { make: [PLAIN[named]], shift: false };
  if (named) return { make: [0xe0, EXTENDED[named]], shift: false };
  const c = name.length === 1 ? CHARS.get(name) : undefined;
  return c && { make: [c[0]], shift: c[1] };
}

const release = (make: number[]): number[] => [...make.slice(0, -1), make[make.length - 1] | 0x80];

/**
 * The scan codes of pressing and releasing a key or a chord: "Enter", "a", "?", "Ctrl+C",
 * "Shift+Tab", "Ctrl+Alt+Delete" (modifiers go down first and stay held while the last key goes
 * down and up). A letter in a chord is its key ("Ctrl+C" is Ctrl with the C key); a shifted
 * character alone ("?", "A") holds Shift itself. Throws naming a key it does not know.
 */
export function keyScancodes(chord: string): number[] {
  if (typeof chord !== "string" || chord === "") throw new TypeError('keyboard.press: give a key name, e.g. "Enter" or "Ctrl+C"');
  // "+" alone, or a chord ending in "++" ("Shift++"), ends with the plus key.
  const parts = chord === "+" ? ["+"] : chord.endsWith("++") ? [...chord.slice(0, -2).split("+"), "+"] : chord.split("+");
  const keyName = parts.pop()!;
  const mods = parts.map((p) => {
    const name = canonical(p);
    if (!name || !MODIFIERS.has(name)) throw new RangeError(`keyboard.press: "${p}" in "${chord}" is not a modifier (Ctrl, Shift, Alt, Meta, CtrlRight, AltRight, ShiftRight)`);
    return name in PLAIN ? [PLAIN[name]] : [0xe0, EXTENDED[name]];
  });
  const key = keyCode(parts.length > 0 && /^[A-Z]$/.test(keyName) ? keyName.toLowerCase() : keyName);
  if (!key) throw new RangeError(`keyboard.press: unknown key "${keyName}" in "${chord}" (known: one letter, digit or punctuation character, or ${NAMES.join(", ")})`);
  if (key.shift && !mods.some((m) => m[0] === PLAIN.Shift || m[0] === PLAIN.ShiftRight)) mods.push([PLAIN.Shift]);
  return [...mods.flat(), ...key.make, ...release(key.make), ...[...mods].reverse().flatMap(release)];
}

/** The scan codes that type `text` on a US layout ("\n" is Enter, "\t" Tab); throws naming a character it cannot type. */
export function textScancodes(text: string): number[] {
  if (typeof text !== "string") throw new TypeError("keyboard.type: the text must be a string");
  const codes: number[] = [];
  for (const ch of text) {
    const c = CHARS.get(ch);
    if (!c) throw new RangeError(`keyboard.type: ${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}) has no key on a US keyboard; press() sends named keys`);
    const [make, shift] = c;
    codes.push(...(shift ? [PLAIN.Shift, make, make | 0x80, PLAIN.Shift | 0x80] : [make, make | 0x80]));
  }
  return codes;
}

/** Scan codes sent in one go: well under the 1024 bytes v86's controller queues for the guest. */
const BURST = 128;

/** The guest's keyboard, as a Guest carries it. */
export class Keyboard {
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly emulator: V86) {}

  /** Types `text` (letters, digits, punctuation, space, "\n" as Enter, "\t" as Tab). */
  type(text: string): Promise<void> {
    return this.send(() => textScancodes(text));
  }

  /** Presses and releases a key or a chord: "Enter", "Escape", "F1", "ArrowUp", "Ctrl+C", "Ctrl+Alt+Delete". */
  press(key: string): Promise<void> {
    return this.send(() => keyScancodes(key));
  }

  /**
   * Sends the codes `make` gives in bursts the guest has time to read between (typing and presses
   * keep their order); what `make` throws (a key or character with no code) is the rejection.
   */
  private send(make: () => number[]): Promise<void> {
    let codes: number[];
    try {
      codes = make();
    } catch (e) {
      return Promise.reject(e);
    }
    const run = this.queue.then(async () => {
      for (let i = 0; i < codes.length; i += BURST) {
        if (i > 0) await this.drained();
        this.emulator.keyboard_send_scancodes(codes.slice(i, i + BURST));
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves once the controller's queue is empty (or after a while when this v86 does not show it). */
  private async drained(): Promise<void> {
    const ps2 = (this.emulator as unknown as { v86?: { cpu?: { devices?: { ps2?: { kbd_buffer?: { length: number } } } } } }).v86?.cpu?.devices?.ps2;
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const queued = ps2?.kbd_buffer?.length;
      if (queued === undefined ? i >= 5 : queued === 0) return;
    }
  }
}
