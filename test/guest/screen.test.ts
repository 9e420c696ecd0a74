// The VGA text screen kept from v86's bus events, and waitFor on it: a match already there, one
// drawn later, and a timeout that quotes the screen. v86 is a stand-in that sends the events.
import { describe, expect, it } from "vitest";
import type { V86 } from "v86";
import { Screen } from "../../src/guest/screen.ts";

function fakeV86(): { emulator: V86; draw(row: number, text: string): void } {
  const listeners = new Map<string, (v: unknown) => void>();
  const emulator = { add_listener: (name: string, fn: (v: unknown) => void) => listeners.set(name, fn) } as unknown as V86;
  return {
    emulator,
    draw: (row, text) => [...text].forEach((c, col) => listeners.get("screen-put-char")!([row, col, c.charCodeAt(0)])),
  };
}

describe("Screen", () => {
  it("text() is the drawn lines; waitFor resolves at once when the text is there", async () => {
    const v = fakeV86();
    const screen = new Screen(v.emulator);
    v.draw(0, "SeaBIOS (version 1.16.2)");
    v.draw(2, "Booting from Hard Disk...");
    expect(screen.text()).toEqual(["SeaBIOS (version 1.16.2)", "", "Booting from Hard Disk..."]);
    expect([...(await screen.waitFor(/version ([\d.]+)/))]).toEqual(["version 1.16.2", "1.16.2"]);
    expect((await screen.waitFor("Hard Disk")).index).toBe("SeaBIOS (version 1.16.2)\n\nBooting from ".length);
  });

  it("waitFor resolves when the text is drawn later, also across lines", async () => {
    const v = fakeV86();
    const screen = new Screen(v.emulator);
    const waiting = screen.waitFor(/login:\n.*ready/, { timeoutMs: 5000 });
    setTimeout(() => {
      v.draw(5, "guest login:");
      v.draw(6, "ready");
    }, 20);
    expect((await waiting)[0]).toBe("login:\nready");
  });

  it("rejects after the timeout quoting the screen", async () => {
    const v = fakeV86();
    const screen = new Screen(v.emulator);
    v.draw(0, "SYSLINUX 6.04");
    await expect(screen.waitFor("never", { timeoutMs: 50 })).rejects.toThrow('screen.waitFor: "never" did not appear on the VGA screen within 50 ms; the screen shows:\nSYSLINUX 6.04');
    await expect(new Screen(fakeV86().emulator).waitFor(/x/, { timeoutMs: 10 })).rejects.toThrow("(nothing: empty, or a graphics mode)");
  });
});
