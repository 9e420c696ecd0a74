// exec()'s framing without an emulator: console streams as the guest's tty sends them (echo,
// line-editor escapes, kernel console lines between any two bytes) fed to the parser.
import { describe, expect, it } from "vitest";
import { transcriptBeforeExec, execInput, framingMissing, framingSetUp, parseExec, withoutKernelLines } from "../../src/guest/exec.ts";

const PROMPT = "guest# ";
const KMSG = "[   72.449999] nvme nvme0: I/O 5 QID 1 timeout\r\n";

/** What the console shows for exec number n: the echoed input (wrapped like busybox does), markers, output, prompt. */
function stream(n: number, cmd: string, output: string, status: number, crlf = false): string {
  const nl = crlf ? "\r\n" : "\n";
  const echo = execInput(cmd, n).replace(/(.{80})/g, "$1\r\n");
  return `${echo}@@V86B${n}@@${nl}${output}${nl}@@V86E${n}@${status}@@${nl}\x1b[6n${PROMPT}`;
}

describe("exec framing", () => {
  it("finds output and status, not the echo", () => {
    const s = stream(3, "echo hello", "hello\n", 0);
    expect(parseExec(s, 3, PROMPT)).toEqual({ stdout: "hello\n", exitCode: 0, onlcr: false });
  });

  it("keeps output without a trailing newline, empty output, multi-line and binary-ish output", () => {
    expect(parseExec(stream(1, "printf abc", "abc", 0), 1, PROMPT)?.stdout).toBe("abc");
    expect(parseExec(stream(1, "false", "", 1), 1, PROMPT)).toMatchObject({ stdout: "", exitCode: 1 });
    const odd = "a\x01b\tc\x1b[1mbold\x1b[0m\rd\nline 2\n\nline 4 ünï\n";
    expect(parseExec(stream(1, "x", odd, 0), 1, PROMPT)?.stdout).toBe(odd);
  });

  it("is not complete before the end marker and the prompt after it", () => {
    const s = stream(2, "sleep 1", "", 0);
    const end = s.indexOf("@@V86E2");
    for (const cut of [s.indexOf("@@V86B2"), end, end + 6, s.length - 2]) expect(parseExec(s.slice(0, cut), 2, PROMPT)).toBeUndefined();
    expect(parseExec(s, 2, PROMPT)).toBeDefined();
  });

  it("does not take another exec's markers", () => {
    const s = stream(12, "echo a", "a\n", 0);
    expect(parseExec(s, 1, PROMPT)).toBeUndefined();
    expect(parseExec(s, 2, PROMPT)).toBeUndefined();
  });

  it("cuts kernel console lines out wherever they land", () => {
    const clean = stream(4, "dmesg | tail -1; printf abc", "[    1.000000] an old line\nabc", 0);
    const want = { stdout: "[    1.000000] an old line\nabc", exitCode: 0, onlcr: false };
    for (let at = 0; at <= clean.length; at++) {
      const s = clean.slice(0, at) + KMSG + clean.slice(at);
      expect(parseExec(s, 4, PROMPT), `kernel line at ${at}`).toEqual(want);
    }
    // Several, back to back and apart.
    const s = clean.replace("old", `ol${KMSG}${KMSG}d`).replace("@@V86E4", `@@V8${KMSG}6E4`);
    expect(parseExec(s, 4, PROMPT)).toEqual(want);
  });

  it("leaves time-stamped lines the command printed (they end in a bare \\n)", () => {
    expect(withoutKernelLines("[   1.000000] a\n[   2.000000] b\n")).toBe("[   1.000000] a\n[   2.000000] b\n");
    expect(withoutKernelLines(`x${KMSG}y`)).toBe("xy");
  });

  it("gives plain line ends when the command turned onlcr back on", () => {
    const r = parseExec(stream(5, "stty onlcr; echo a; echo b", "a\r\nb\r\n", 0, true), 5, PROMPT);
    expect(r).toEqual({ stdout: "a\nb\n", exitCode: 0, onlcr: true });
  });
});

describe("exec input", () => {
  it("is one line, sets up the framing first only when asked, and quotes the command", () => {
    expect(execInput("echo 'a' \"b\"", 7)).toBe(
      `stty -onlcr; __v86(){ printf '@@V86B%s@@\\n' "$1"; command eval "$2"; printf '\\n@@V86E%s@%s@@\\n' "$1" $?; }; __v86 7 'echo '\\''a'\\'' "b"'\n`,
    );
    expect(execInput("true", 8, false)).toBe("__v86 8 'true'\n");
    expect(execInput("", 9, false)).toBe("__v86 9 ':'\n");
  });

  it("types no control characters: tabs and the like go through printf", () => {
    const line = execInput("printf 'a\\tb'\t; echo \x03", 1);
    expect(line.slice(0, -1)).not.toMatch(/[\x00-\x1f\x7f]/);
    expect(line).toContain(`__v86 1 "$(printf '%b' 'printf '\\''a\\\\tb'\\''\\0011; echo \\0003')"`);
  });

  it("never contains its own markers (the echo cannot complete)", () => {
    const line = execInput("echo @@V86B%s@@", 3);
    expect(line).not.toMatch(/@@V86B3@@/);
    expect(line).not.toMatch(/@@V86E3@\d+@@/);
  });
});

describe("framing after a restore", () => {
  const SETUP_LINE = (n: number, cmd: string) => execInput(cmd, n, true);
  it("is set up when the transcript's last exec ran through the function with onlcr off", () => {
    const t = `guest# ${SETUP_LINE(3, "sync")}@@V86B3@@\n\n@@V86E3@0@@\nguest# `;
    expect(framingSetUp(t)).toBe(true);
    // Wrapped by the line editor.
    expect(framingSetUp(`guest# __v8\n6 4 'x'\n@@V86B4@@\n\n@@V86E4@0@@\nguest# `)).toBe(true);
  });

  it("is not when onlcr was on, the old framing ran, or no exec ran at all", () => {
    expect(framingSetUp(`guest# __v86 3 'x'\r\n@@V86B3@@\r\n\r\n@@V86E3@0@@\r\nguest# `)).toBe(false);
    expect(framingSetUp(`guest# printf '@@V86B%s@@\\n' 3; command eval 'x'; printf '\\n@@V86E%s@%s@@\\n' 3 $?\n@@V86B3@@\n\n@@V86E3@0@@\nguest# `)).toBe(false);
    expect(framingSetUp("guest# ")).toBe(false);
  });

  it("cuts a transcript at the first command exec() typed, as a person saw the console", () => {
    const boot = "Run /sbin/init\r\nEnter 'help' for a list of built-in commands.\r\n\r\n\x1b[6nguest# ";
    expect(transcriptBeforeExec(boot + stream(1, "sync", "", 0) + stream(2, "true", "", 0))).toBe(boot);
    expect(transcriptBeforeExec(boot)).toBe(boot);
  });

  it("notices a shell without the function once it is back at its prompt", () => {
    expect(framingMissing("__v86 5 'ls'\r\n-/bin/sh: __v86: not found\r\nguest# ", PROMPT)).toBe(true);
    expect(framingMissing("__v86 5 'ls'\r\n-/bin/sh: __v86: not found\r\n", PROMPT)).toBe(false);
    expect(framingMissing("__v86 5 'ls'\r\nguest# ", PROMPT)).toBe(false);
    expect(framingMissing("__v86 5 'ls'\r\nbash: __v86: command not found\r\nguest# ", PROMPT)).toBe(true);
  });
});
