// exec() over a serial console: how a command is typed and how its output is found again.
//
// Each byte typed costs the guest a serial interrupt and a round of its line editor (about a
// millisecond of emulated CPU each), so the framing is typed once, as a shell function, and each
// command is then the short line
//   __v86 7 '<cmd>'
// with, before the first one (and again whenever the tty may have onlcr on),
//   stty -onlcr; __v86(){ printf '@@V86B%s@@\n' "$1"; command eval "$2"; printf '\n@@V86E%s@%s@@\n' "$1" $?; };
// - The markers are made by printf at run time; the echoed line holds "%s" where the output has
//   the number, so the echo can never be taken for output.
// - eval runs the command in the shell itself (cd, variables, background jobs stay: a function
//   runs in the calling shell); `command` keeps a syntax error in it from abandoning the rest
//   (it becomes exit status 2).
// - The end marker starts with its own newline, which is dropped again: output without a
//   trailing newline ("printf abc") comes back exactly, and "echo abc" keeps its "\n".
// - With onlcr off the tty sends the command's "\n" as is, while the kernel's console driver
//   always ends its lines with "\r\n". A kernel message (written in one piece, with its
//   "[    1.234567] " time stamp, anywhere between two bytes of the command's output) is thus
//   told apart from the output and cut out, even inside a marker or a dmesg line. onlcr stays
//   off once set, so the setup is only typed until the markers show it is off.

import type { ExecResult } from "./types.ts";
import { stripEscapes } from "./serial.ts";

/** A kernel console line: the last time stamp before a "\r\n" up to and including it. */
const KERNEL_LINE = /\[ *\d+\.\d{6}\] (?:(?!\[ *\d+\.\d{6}\] )[^\n])*?\r\n/g;

/** Quotes `s` for sh: inside single quotes only ' needs care; control characters go through printf. */
function shellWord(s: string): string {
  // Tab would complete in busybox's line editor, other control characters are tty keys (^C, ^D, ...).
  if (/[\x00-\x09\x0b-\x1f\x7f]/.test(s)) {
    const escaped = s.replace(/[\\\x00-\x09\x0b-\x1f\x7f]/g, (c) => (c === "\\" ? "\\\\" : `\\0${c.charCodeAt(0).toString(8).padStart(3, "0")}`));
    return `"$(printf '%b' '${escaped.replace(/'/g, "'\\''")}')"`;
  }
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/** The function each exec calls, and the setup typed before the first: onlcr off, the function defined. */
const FN = "__v86";
const SETUP = `stty -onlcr; ${FN}(){ printf '@@V86B%s@@\\n' "$1"; command eval "$2"; printf '\\n@@V86E%s@%s@@\\n' "$1" $?; }; `;

/** The input that runs `cmd` as exec number `n` (ends with a newline); `setup` types the framing first. */
export function execInput(cmd: string, n: number, setup = true): string {
  const word = shellWord(cmd.trim() === "" ? ":" : cmd);
  return `${setup ? SETUP : ""}${FN} ${n} ${word}\n`;
}

export interface ParsedExec extends ExecResult {
  /** The tty still turns "\n" into "\r\n" (onlcr on): kernel lines could not be told apart. */
  onlcr: boolean;
}

/** Removes the kernel's console lines from raw console text. */
export function withoutKernelLines(s: string): string {
  return s.replace(KERNEL_LINE, "");
}

/**
 * Finds exec number `n`'s result in the console output received since its input was sent, once
 * the shell is back at `prompt`; undefined while it is not complete.
 */
export function parseExec(raw: string, n: number, prompt: string): ParsedExec | undefined {
  // Escape sequences are left in the output (they are the command's); the prompt is looked for without them.
  const s = withoutKernelLines(raw);
  const begin = new RegExp(`@@V86B${n}@@\\r?\\n`).exec(s);
  if (!begin) return undefined;
  const start = begin.index + begin[0].length;
  const end = new RegExp(`\\n@@V86E${n}@(\\d+)@@(\\r?)\\n`).exec(s.slice(start));
  if (!end) return undefined;
  if (!stripEscapes(s.slice(start + end.index + end[0].length)).includes(prompt)) return undefined;
  let stdout = s.slice(start, start + end.index);
  // The command turned onlcr back on (the marker's own "\n" arrived as "\r\n"): plain line ends.
  if (end[2] === "\r") stdout = stdout.replace(/\r\n/g, "\n").replace(/\r$/, "");
  return { stdout, exitCode: Number(end[1]), onlcr: end[2] === "\r" };
}

/** Undoes shellWord() for display: the command as it was given (control characters as \0NNN). */
function unquote(word: string): string {
  const m = /^"\$\(printf '%b' '([\s\S]*)'\)"$/.exec(word);
  const inner = m ? m[1] : word;
  return inner.replace(/^'|'$/g, "").replace(/'\\''/g, "'");
}

/** `chunk` (console text that ends where exec `n`'s output begins) with its typed line as the command. */
function showTyped(chunk: string, n: string): string {
  const keep: number[] = []; // index in chunk of each character of the newline-free text
  let flat = "";
  for (let i = 0; i < chunk.length; i++) {
    if (chunk[i] === "\n") continue;
    keep.push(i);
    flat += chunk[i];
  }
  const call = `${FN} ${n} `;
  const at = flat.lastIndexOf(call);
  if (at < 0) return chunk;
  const from = flat.slice(0, at).endsWith(SETUP) ? at - SETUP.length : at;
  return `${chunk.slice(0, keep[from])}${unquote(flat.slice(at + call.length))}\n`;
}

/**
 * The console as a person reads it: each exec()'s typed line (stty, markers, `command eval`,
 * wrapped by the line editor) shown as the command itself after the prompt, its markers gone,
 * and a failing command's exit status noted. For failure reports and attachments; exec() itself
 * reads the raw text.
 */
export function readableConsole(text: string): string {
  let out = "";
  let last = 0;
  for (const m of text.matchAll(/(?:^|\n)@@V86B(\d+)@@\n/g)) {
    const end = m.index + m[0].length;
    const lead = m[0].startsWith("\n") ? 1 : 0;
    out += showTyped(text.slice(last, m.index + lead), m[1]);
    last = end;
  }
  out += text.slice(last);
  // The end marker's own leading newline goes too: the output shows as a terminal showed it.
  return out.replace(/\n@@V86E\d+@(\d+)@@\n/g, (_, status: string) => (status === "0" ? "" : `[exit status ${status}]\n`));
}

/**
 * Whether the shell behind a snapshot's console transcript has exec's framing: its last exec ran
 * through the function and showed onlcr off. A resumed or restored guest then needs no setup.
 */
export function framingSetUp(transcript: string): boolean {
  let last: RegExpMatchArray | undefined;
  for (const m of transcript.matchAll(/\n@@V86E(\d+)@\d+@@(\r?)\n/g)) last = m;
  if (!last || last[2] === "\r") return false;
  // The typed call, with the line editor's wrapping taken out.
  const before = transcript.slice(Math.max(0, last.index! - 4096), last.index).replace(/\n/g, "");
  return before.includes(`${FN} ${last[1]} `);
}

/**
 * A console transcript up to the first command exec() typed (the framing's setup): what a person
 * at the console saw. A state file's transcript ends with the commands that prepared it (zeroing
 * free memory, sync), which say nothing to someone resuming it.
 */
export function transcriptBeforeExec(transcript: string): string {
  const at = transcript.indexOf(SETUP.slice(0, SETUP.indexOf("{")));
  return at < 0 ? transcript : transcript.slice(0, at);
}

/** The shell answered that the framing function does not exist (it was unset, or another shell runs). */
export function framingMissing(raw: string, prompt: string): boolean {
  // ash and dash say "__v86: not found", bash "__v86: command not found".
  const at = raw.search(new RegExp(`${FN}: (?:command )?not found`));
  return at >= 0 && stripEscapes(raw.slice(at)).includes(prompt);
}
