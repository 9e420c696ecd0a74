// Samples the emulator's instruction counter and the disks' command counts a few times a second.
//
// v86 0.5.462 exposes its instruction counter as emulator.get_instruction_counter(), the u32
// cpu.instruction_counter[0] (it wraps every ~15 s at 285 MIPS): the sampler unwraps it into a
// float total. The window in which a disk was busy is found from its command counts (NVMe: the
// controller's read + write commands; IDE: v86's ide-read-end / ide-write-end bus events), so
// instructions per second and per command cover the I/O itself, not fio's start-up and exit.
// Runs wherever the emulator runs: under Node, and in the Chromium page (page.ts).

interface Emulator {
  add_listener(event: string, f: () => void): void;
  get_instruction_counter(): number;
  v86?: { cpu?: Record<string, unknown> };
}

export interface Sample {
  /** performance.now(), ms. */
  t: number;
  /** Guest instructions since the sampler started (unwrapped). */
  instr: number;
  nvmeCmds: number;
  ideCmds: number;
}

export interface Window {
  seconds: number;
  instructions: number;
  /** Commands the disk completed in the window. */
  commands: number;
}

export class Sampler {
  readonly samples: Sample[] = [];
  private last: number;
  private total = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  ideCmds = 0;
  /** Wasm modules v86's JIT compiled, and compiled functions it dropped (pages rewritten or recompiled). */
  jitCompiles = 0;
  jitClears = 0;

  /** `nvmeCmds` gives the controller's read + write commands so far (0 while there is none). */
  constructor(emulator: unknown, private readonly nvmeCmds: () => number, private readonly periodMs = 200) {
    this.em = emulator as Emulator;
    this.em.add_listener("ide-read-end", () => this.ideCmds++);
    this.em.add_listener("ide-write-end", () => this.ideCmds++);
    this.last = this.counter();
  }

  private readonly em: Emulator;

  private counter(): number {
    return this.em.get_instruction_counter() >>> 0;
  }

  /** Guest instructions executed so far (unwrapped; call at least every few seconds). */
  instructions(): number {
    const now = this.counter();
    this.total += (now - this.last) >>> 0;
    this.last = now;
    return this.total;
  }

  /** Counts JIT work once the CPU exists (it is made when v86's wasm has loaded). */
  private countJit(): void {
    const cpu = this.em.v86?.cpu;
    if (this.jitCounted || !cpu) return;
    this.jitCounted = true;
    // v86's wasm imports call these CPU methods by name at each call: counting wrappers see them all.
    const count = (name: string, bump: () => void): void => {
      const f = cpu[name];
      if (typeof f !== "function") return;
      cpu[name] = function (this: unknown, ...a: unknown[]): unknown {
        bump();
        return f.apply(this, a);
      };
    };
    count("codegen_finalize", () => this.jitCompiles++);
    count("jit_clear_func", () => this.jitClears++);
  }

  private jitCounted = false;

  sample(): Sample {
    this.countJit();
    const s: Sample = {
      t: performance.now(),
      instr: this.instructions(),
      nvmeCmds: this.nvmeCmds(),
      ideCmds: this.ideCmds,
    };
    this.samples.push(s);
    return s;
  }

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.periodMs);
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Index of the next sample: hand it to busyWindow() or since() later. */
  mark(): number {
    return this.samples.length;
  }

  /** Guest instructions from sample `from` to the last sample. */
  since(from: number): number {
    const s = this.samples;
    return from < s.length ? s[s.length - 1].instr - s[from].instr : 0;
  }

  /**
   * The busy window of one disk among the samples taken since `from`: from the end of the first
   * interval in which it completed commands to the start of the last one (the edge intervals are
   * partly idle and left out). Undefined when the disk was busy in fewer than three intervals.
   */
  busyWindow(from: number, disk: "nvme" | "ide"): Window | undefined {
    const s = this.samples.slice(from);
    const key = disk === "nvme" ? "nvmeCmds" : "ideCmds";
    const busy: number[] = [];
    for (let i = 1; i < s.length; i++) if (s[i][key] > s[i - 1][key]) busy.push(i);
    if (busy.length < 3) return undefined;
    const a = s[busy[0]];
    const b = s[busy[busy.length - 1] - 1];
    if (b.t <= a.t) return undefined;
    return { seconds: (b.t - a.t) / 1000, instructions: b.instr - a.instr, commands: b[key] - a[key] };
  }
}
