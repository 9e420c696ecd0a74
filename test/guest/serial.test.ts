// The serial console without an emulator: bytes in, cleaned text, waitFor with timeouts.
import { describe, expect, it } from "vitest";
import { Serial, SerialTimeoutError, cleanText } from "../../src/guest/serial.ts";

function feed(s: Serial, text: string): void {
  for (const b of new TextEncoder().encode(text)) s.pushByte(b);
}

describe("serial console", () => {
  it("decodes UTF-8 and drops escape sequences and CRs from text(), even split across chunks", () => {
    const s = new Serial(() => {});
    feed(s, "hé\x1b[");
    feed(s, "6nllo\r\nguest# \x1b(B€");
    expect(s.text()).toBe("héllo\nguest# €");
    expect(s.raw()).toBe("hé\x1b[6nllo\r\nguest# \x1b(B€");
    expect(s.tail(3)).toBe("# €");
  });

  it("waitFor resolves with the match as output arrives, from an offset", async () => {
    const s = new Serial(() => {});
    feed(s, "boot\nguest# ");
    const from = s.text().length;
    const m = s.waitFor(/value=(\d+)/, { from, timeoutMs: 1000 });
    feed(s, "value=");
    await Promise.resolve();
    feed(s, "42\n");
    const r = await m;
    expect(r[1]).toBe("42");
    expect(r.index).toBe(from);
    await expect(s.waitFor("boot", { timeoutMs: 10 })).resolves.toMatchObject({ index: 0 });
    await expect(s.waitFor("boot", { from: 1, timeoutMs: 10 })).rejects.toThrow(/timed out/);
  });

  it("a timeout names what was awaited and carries the tail", async () => {
    const s = new Serial(() => {});
    feed(s, "last words before silence\n");
    const e = await s.waitFor(/never/, { timeoutMs: 20 }).catch((x) => x);
    expect(e).toBeInstanceOf(SerialTimeoutError);
    expect(e.message).toMatch(/timed out after 20 ms waiting for \/never\//);
    expect(e.message).toContain("last words before silence");
    expect(e.tail).toContain("last words");
  });

  it("sends non-ASCII text as UTF-8 bytes, one character per byte", () => {
    const sent: string[] = [];
    const s = new Serial((t) => sent.push(t));
    s.send("echo é\n");
    expect([...sent[0]].map((c) => c.charCodeAt(0))).toEqual([...new TextEncoder().encode("echo é\n")]);
  });

  it("reset replaces the transcript; close rejects waiters", async () => {
    const s = new Serial(() => {});
    feed(s, "one");
    s.reset("two\r\n");
    expect(s.text()).toBe("two\n");
    const w = s.waitFor("three", { timeoutMs: 1000 });
    s.close(new Error("the guest was stopped"));
    await expect(w).rejects.toThrow(/stopped while waiting for "three"/);
    expect(() => s.send("x")).toThrow(/stopped/);
  });

  it("cleanText", () => {
    expect(cleanText("a\x1b[1;32mb\x1b[0m\r\nc")).toBe("ab\nc");
  });
});
