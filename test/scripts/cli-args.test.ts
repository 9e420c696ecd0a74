// The benchmarks' and scripts' flags (scripts/cli-args.ts): the usage is written from the table the
// parser reads, --help prints it and exits 0, an unknown flag or a missing value exits 2 with it.

import { afterEach, describe, expect, it, vi } from "vitest";
import { parseFlags, usage } from "../../scripts/cli-args.ts";

const COMMAND = {
  name: "demo",
  run: "npm run demo --",
  flags: {
    quick: { type: "boolean", help: "a short run" },
    runtime: { type: "string", arg: "S", help: "seconds per job" },
    send: { type: "string", arg: "CMD", multiple: true, help: "typed at the prompt" },
  },
  notes: ["e.g. npm run demo -- --quick"],
} as const;

class Exit extends Error {
  constructor(readonly code: number | undefined) {
    super(`exit ${code}`);
  }
}

function run(argv: string[]): { code: number | undefined; stdout: string; stderr: string } {
  let stdout = "";
  let stderr = "";
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((stdout += String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => ((stderr += String(s)), true));
  vi.spyOn(process, "exit").mockImplementation((code) => {
    throw new Exit(code as number | undefined);
  });
  try {
    parseFlags(COMMAND, argv);
    return { code: undefined, stdout, stderr };
  } catch (e) {
    if (e instanceof Exit) return { code: e.code, stdout, stderr };
    throw e;
  } finally {
    vi.restoreAllMocks();
  }
}

describe("command-line flags", () => {
  afterEach(() => vi.restoreAllMocks());

  it("writes the usage from the table: every flag, its value, its help, and the notes", () => {
    const text = usage(COMMAND);
    expect(text).toMatch(/^usage: npm run demo -- \[flags\]\n/);
    expect(text).toMatch(/--quick +a short run\n/);
    expect(text).toMatch(/--runtime S +seconds per job\n/);
    expect(text).toMatch(/--send CMD \.\.\. +typed at the prompt\n/);
    expect(text).toMatch(/--help +print this text\n/);
    expect(text).toContain("e.g. npm run demo -- --quick");
  });

  it("parses switches, values and repeated values, and ignores a bare --", () => {
    expect(parseFlags(COMMAND, ["--", "--quick", "--runtime", "5", "--send", "a b", "--send=c"])).toEqual({ quick: true, runtime: "5", send: ["a b", "c"] });
    expect(parseFlags(COMMAND, [])).toEqual({ send: [] });
  });

  it("prints the usage on --help and exits 0", () => {
    const r = run(["--quick", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(usage(COMMAND));
  });

  it("rejects an unknown flag, a missing value and a stray argument with the usage (exit 2)", () => {
    for (const argv of [["--bogus"], ["--runtime"], ["stray"], ["--quick=yes"]]) {
      const r = run(argv);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^demo: .+\nusage: npm run demo -- \[flags\]\n/);
    }
  });
});
