// A v86 that dies inside itself (v86 0.4.0: `DEBUG is not defined` at the guest's first serial
// byte, thrown from a timer callback) fails bootGuest with an error naming the v86 and what to do,
// and the machine stops; v86's own loop is left as it was after a boot.
import { describe, expect, it } from "vitest";
import { bootGuest, type GuestConfig } from "../../src/guest/index.ts";
import { SUPPORTED_V86_RANGE } from "../../src/v86/v86-types.ts";

/** Enough of V86 for bootGuest with nvme: false: listeners, run/stop/destroy and v86's main loop object. */
class FakeLoop {
  stopping = false;
  running = false;
  ticks = 0;
  constructor(
    private readonly send: (name: string) => void,
    private readonly fail: (tick: number) => void,
  ) {}
  run(): void {
    this.stopping = false;
    this.running = true;
    this.next_tick(0);
  }
  stop(): void {
    if (this.running) this.stopping = true;
  }
  do_tick(): void {
    if (this.stopping || !this.running) {
      this.stopping = this.running = false;
      this.send("emulator-stopped");
      return;
    }
    this.fail(++this.ticks);
    this.next_tick(0);
  }
  next_tick(delay: number): void {
    setTimeout(() => this.do_tick(), delay);
  }
}

function fakeV86(fail: (tick: number) => void): { V86: GuestConfig["V86"]; loops: FakeLoop[] } {
  const loops: FakeLoop[] = [];
  class FakeV86 {
    private readonly listeners = new Map<string, Array<(v: unknown) => void>>();
    readonly v86: FakeLoop;
    running = false;
    constructor() {
      this.v86 = new FakeLoop((name) => this.emit(name), fail);
      loops.push(this.v86);
      this.add_listener("emulator-stopped", () => (this.running = false));
      setTimeout(() => this.emit("emulator-loaded"), 0);
    }
    add_listener(name: string, fn: (v: unknown) => void): void {
      this.listeners.set(name, [...(this.listeners.get(name) ?? []), fn]);
    }
    remove_listener(name: string, fn: (v: unknown) => void): void {
      this.listeners.set(name, (this.listeners.get(name) ?? []).filter((f) => f !== fn));
    }
    emit(name: string, value?: unknown): void {
      for (const fn of this.listeners.get(name) ?? []) fn(value);
    }
    serial0_send(): void {}
    async run(): Promise<void> {
      this.running = true;
      this.v86.run();
    }
    async stop(): Promise<void> {
      if (!this.running) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          this.remove_listener("emulator-stopped", done);
          resolve();
        };
        this.add_listener("emulator-stopped", done);
        this.v86.stop();
      });
    }
    async destroy(): Promise<void> {}
  }
  return { V86: FakeV86 as unknown as GuestConfig["V86"], loops };
}

const base = { v86Wasm: "v86.wasm", bios: new Uint8Array(512), image: new Uint8Array(4096), nvme: false } as const;

describe("a v86 that fails inside itself", () => {
  it("at the first ticks: bootGuest names the version and the supported releases, and the machine stops", async () => {
    const { V86, loops } = fakeV86((tick) => {
      if (tick === 3) throw new ReferenceError("DEBUG is not defined");
    });
    const boot = bootGuest({ ...base, V86, v86Version: "0.4.0" }, { timeoutMs: 5_000 });
    await expect(boot).rejects.toThrow(/v86 0\.4\.0 failed inside itself while booting \(ReferenceError: DEBUG is not defined\)/);
    await expect(boot).rejects.toThrow(`v86-nvme works with v86 ${SUPPORTED_V86_RANGE}: install one of those`);
    const [loop] = loops;
    expect(loop.running).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(loop, "do_tick")).toBe(false); // v86's own method again
  });

  it("without a version: says `this v86`", async () => {
    const { V86 } = fakeV86(() => {
      throw new TypeError("x is not a function");
    });
    await expect(bootGuest({ ...base, V86 }, { timeoutMs: 5_000 })).rejects.toThrow(/this v86 failed inside itself while booting \(TypeError: x is not a function\)/);
  });

  it("in its constructor: the same, at its start", async () => {
    const V86 = function () {
      throw new ReferenceError("DEBUG is not defined");
    } as unknown as GuestConfig["V86"];
    const boot = bootGuest({ ...base, V86, v86Version: "0.4.0" });
    await expect(boot).rejects.toThrow(/v86 0\.4\.0 failed inside itself at its start \(ReferenceError: DEBUG is not defined\)/);
    await expect(boot).rejects.toHaveProperty("cause.message", "DEBUG is not defined");
  });
});
