// Command-line flags of the benchmarks and scripts: node:util's parseArgs over one table that also
// writes the usage text, so the flags and their description cannot drift apart. `--help` prints
// the usage and exits 0; an unknown flag, a missing value or a stray argument prints what is wrong
// and the usage, and exits 2. A bare `--` (npm run X -- ...) is ignored.

import { parseArgs } from "node:util";

export interface Flag {
  /** "boolean": a switch; "string": takes a value. */
  readonly type: "boolean" | "string";
  /** The value's name in the usage (string flags), e.g. "S", "DIR", "id,id". */
  readonly arg?: string;
  /** May be given more than once (string flags): the values, in order. */
  readonly multiple?: boolean;
  /** What it does (and its default). */
  readonly help: string;
}

export type FlagTable = Readonly<Record<string, Flag>>;

type Value<F extends Flag> = F["type"] extends "boolean" ? boolean | undefined : F["multiple"] extends true ? string[] : string | undefined;

/** The parsed flags: switches are true or undefined, values strings (a list for `multiple`). */
export type FlagValues<T extends FlagTable> = { -readonly [K in keyof T]: Value<T[K]> };

export interface Command<T extends FlagTable = FlagTable> {
  /** Prefix of messages, e.g. "bench:big". */
  readonly name: string;
  /** How it is run, e.g. "npm run bench:big --". */
  readonly run: string;
  readonly flags: T;
  /** Lines after the flags (examples, notes). */
  readonly notes?: readonly string[];
}

/** The usage text: how to run it, every flag of the table with its value and help, then the notes. */
export function usage(c: Command): string {
  const rows = Object.entries(c.flags).map(([name, f]) => [`--${name}${f.type === "string" ? ` ${f.arg ?? "VALUE"}` : ""}${f.multiple ? " ..." : ""}`, f.help]);
  rows.push(["--help", "print this text"]);
  const width = Math.max(...rows.map(([l]) => l.length));
  return [`usage: ${c.run} [flags]`, ...rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`), ...(c.notes?.length ? ["", ...c.notes] : [])].join("\n") + "\n";
}

/** Says what is wrong and how to run it, then exits 2. */
export function fail(c: Command, msg: string): never {
  process.stderr.write(`${c.name}: ${msg}\n${usage(c)}`);
  process.exit(2);
}

/** Parses `argv` against the command's table (see the top of this file for --help and errors). */
export function parseFlags<const T extends FlagTable>(c: Command<T>, argv: readonly string[] = process.argv.slice(2)): FlagValues<T> {
  const args = argv.filter((a) => a !== "--");
  if (args.includes("--help")) {
    process.stdout.write(usage(c));
    process.exit(0);
  }
  const options = Object.fromEntries(Object.entries(c.flags).map(([name, f]) => [name, { type: f.type, multiple: f.multiple ?? false }]));
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    return fail(c, e instanceof Error ? e.message : String(e));
  }
  for (const [name, f] of Object.entries(c.flags)) if (f.multiple) values[name] ??= [];
  return values as FlagValues<T>;
}
