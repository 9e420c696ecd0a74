// bootGuest(): v86 + SeaBIOS + the NVMe disk, booted to the first shell prompt, as a Guest.
//
// Namespace 1 is a CowBackend over the image: the guest's writes land in an overlay, so the
// image is never written and a snapshot is v86's save_state() (CPU, RAM, devices, the
// controller) plus a copy of the overlay. v86 saves and restores synchronously, so both are
// taken between two slices of guest time without stopping the emulator.

import type { V86, V86Options } from "v86";
import { attachNvme, normalizeOptionNames, type CowBackend, type NvmeV86 } from "../index.ts";
import { execInput, framingMissing, framingSetUp, parseExec, transcriptBeforeExec } from "./exec.ts";
import { firmwareGaveUp } from "./boot-error.ts";
import { zeroFreeMemory } from "./free-memory.ts";
import { Screen } from "./screen.ts";
import { Keyboard } from "./keyboard.ts";
import { getFile, getTar, putFile, putTar, type TransferHost } from "./files.ts";
import { openImage } from "./image-disk.ts";
import { bytesOf, checkConfig, ownBuffer, v86Failed, v86WasmOptions, watchV86Loop } from "./v86-setup.ts";
import { Serial, SerialTimeoutError } from "./serial.ts";
import { advanceV86Clock, checkV86StateAgainst, decodeStateFile, encodeStateFile, mismatches, nvmeConfigKey, referenceState, restoreFresh, restoreState, StateFileError, stateMismatches, v86ClockBehind, v86ClockMs, type StateFileInfo } from "../index.ts";
import type { BootOptions, ExecOptions, ExecResult, Guest, GuestConfig, GuestCounters, GuestSnapshot, SnapshotIdentity, TransferOptions } from "./types.ts";

/**
 * Guest RAM when the config gives none. 128 MiB holds the project's guest (kernel, busybox,
 * nvme-cli, fio) with room to spare and costs the host half of 256 MiB per guest. v86's
 * save_state() keeps only the RAM the guest has touched, so snapshots after a boot are the same
 * size (about 63 MiB) and restore as fast at 128 and 256 MiB (bench/snapshot.ts).
 */
export const DEFAULT_MEMORY = 128 << 20;
export const DEFAULT_PROMPT = "guest# ";
/** Whether v86 puts nothing into guest RAM above the BIOSes (1 MiB) before the machine runs. */
function loadsNothingHigh(config: GuestConfig): boolean {
  const v = (config.v86Options ?? {}) as Record<string, unknown>;
  return !config.kernel && !config.initrd && !["bzimage", "initrd", "multiboot", "acpi", "initial_state"].some((k) => v[k]);
}

/** A state to resume: the file's bytes (zstd-compressed or not), or what decodeStateFile() gave. */
function resumeState(state: BootOptions["state"]): { info: StateFileInfo; snapshot: GuestSnapshot } | undefined {
  if (state === undefined) return undefined;
  if (state instanceof Uint8Array || state instanceof ArrayBuffer) return decodeStateFile(state);
  if (state && typeof state === "object" && "info" in state && "snapshot" in state) return state;
  throw new TypeError("bootGuest: `state` must be a state file's bytes or decodeStateFile()'s result");
}

/**
 * Boots the guest and resolves at its first shell prompt (or `readyWhen`); with `options.state`,
 * resumes that state instead (refused with a StateFileError naming what differs when it was made
 * with another image, RAM size, controller configuration or v86).
 */
export async function bootGuest(config: GuestConfig, bootOptions: BootOptions = {}): Promise<Guest> {
  const started = performance.now();
  const options = normalizeOptionNames("boot", bootOptions, "bootGuest");
  const resume = resumeState(options.state);
  const memory = config?.memory ?? resume?.info.identity.memory ?? DEFAULT_MEMORY;
  checkConfig(config, memory);
  const prompt = config.prompt ?? resume?.info.prompt ?? DEFAULT_PROMPT;
  const { disk, imageBytes, imageId, whole } = await openImage(config.image, config.imageId);
  const withNvme = config.nvme !== false;
  const { controllers = 1, ...nvmeOptions } = config.nvme || {};
  const identity: SnapshotIdentity = {
    imageId,
    imageBytes,
    memory,
    nvme: withNvme ? nvmeConfigKey(controllers > 1 ? { ...nvmeOptions, controllers } : nvmeOptions) : "none",
    ide: config.ide === true,
  };
  if (resume) {
    const differs = stateMismatches(resume.info, identity, config.v86Version ?? "");
    if (differs.length > 0) throw new StateFileError(`the state was made with ${differs.join("; ")}`);
  }

  const v86Options: V86Options = {
    ...v86WasmOptions(config.v86Wasm),
    bios: { buffer: ownBuffer(bytesOf(config.bios, "bios")) },
    ...(config.vgaBios ? { vga_bios: { buffer: ownBuffer(bytesOf(config.vgaBios, "vgaBios")) } } : {}),
    memory_size: memory,
    autostart: false,
    disable_speaker: true,
    // SeaBIOS's boot order from CMOS: hard disks (NVMe among them) first, then CD, then floppy.
    // v86's default for a machine without hda tries an absent CD first and prints its failure.
    boot_order: 0x132,
    // Its free page hints zero the guest's free memory before a state is taken (captureState).
    virtio_balloon: true,
    ...(config.screen ? { screen: { container: config.screen } } : {}),
    // v86 writes into its IDE disk: a private copy.
    ...(config.ide ? { hda: { buffer: (await whole()).slice().buffer } } : {}),
    ...(config.kernel
      ? {
          bzimage: { buffer: ownBuffer(bytesOf(config.kernel, "kernel")) },
          ...(config.initrd ? { initrd: { buffer: ownBuffer(bytesOf(config.initrd, "initrd")) } } : {}),
          cmdline: config.cmdline ?? "console=ttyS0,115200 root=/dev/nvme0n1p2 rw quiet",
        }
      : {}),
    ...config.v86Options,
  };
  let emulator: V86;
  try {
    emulator = new config.V86(v86Options);
  } catch (e) {
    throw v86Failed(e, config.v86Version, "at its start");
  }
  const machine = new GuestMachine(emulator, disk, identity, prompt, config.v86Version ?? "");
  config.onEmulator?.(emulator);
  const timeout = options.timeoutMs ?? 180_000;
  let unwatchLoop = (): void => {};
  let died: Error | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const wasm = typeof config.v86Wasm === "string" ? ` (v86Wasm: ${config.v86Wasm})` : "";
        reject(new Error(`bootGuest: v86 did not finish loading within ${timeout} ms${wasm}`));
      }, timeout);
      emulator.add_listener("emulator-loaded", () => {
        clearTimeout(timer);
        const log: GuestConfig["log"] = config.log ?? ((level, msg) => {
          if (level === "warn" || level === "error") console.warn(`v86-nvme ${level}: ${msg}`);
        });
        const attach = withNvme
          ? attachNvme(emulator, {
              ...nvmeOptions,
              ...(nvmeOptions.namespaces?.length ? { namespaces: [{ backend: disk }, ...nvmeOptions.namespaces] } : { drive: disk, namespaces: undefined }),
              log,
            })
          : Promise.resolve(undefined);
        attach
          .then(async (nvme) => {
            // A second controller of the subsystem: its own PCI function (slot and BAR0 after the first's).
            const second = nvme && controllers > 1 ? await attachNvme(emulator, { sharedWith: nvme, msix: nvmeOptions.msix, log }) : undefined;
            machine.attached(nvme, second);
            if (resume) await machine.resume(resume.snapshot, resume.info.clockMs, loadsNothingHigh(config));
            if (!resume) {
              unwatchLoop = watchV86Loop(emulator, (e) => {
                died = v86Failed(e, config.v86Version, "while booting");
                machine.serial.recheck();
              });
            }
            void emulator.run();
            resolve();
          })
          .catch(reject);
      });
    });
    const ready = options.readyWhen;
    // A resumed guest is at its prompt already (its transcript ends there).
    if (!resume) {
      // The screen is watched too: SeaBIOS says there when nothing boots (and would retry forever).
      const unwatchScreen = machine.screen.onChange(() => machine.serial.recheck());
      // readyWhen may look at more than the console (the time, the screen): asked again each 250 ms too.
      const poll = ready ? setInterval(() => machine.serial.recheck(), 250) : undefined;
      const unwatch = (): void => {
        unwatchScreen();
        clearInterval(poll);
      };
      try {
        await machine.serial.until(
          () => {
            if (died) throw died;
            // With readyWhen the caller says what ready is (maybe a firmware screen): no verdict here.
            const failed = ready ? undefined : firmwareGaveUp(machine.screen.text(), machine.serial.text());
            if (failed) throw failed;
            return (ready ? ready(machine.serial) : machine.serial.text().includes(prompt)) ? true : undefined;
          },
          Math.max(1, timeout - (performance.now() - started)),
          ready ? "the guest to be ready" : `the first shell prompt "${prompt}"`,
        );
      } finally {
        unwatch();
      }
    }
  } catch (e) {
    await machine.stop();
    throw e;
  } finally {
    unwatchLoop();
  }
  machine.bootMs = performance.now() - started;
  return machine;
}

class GuestMachine implements Guest {
  readonly serial: Serial;
  readonly screen: Screen;
  readonly keyboard: Keyboard;
  bootMs = 0;
  private controller: NvmeV86 | undefined;
  nvmeControllers: readonly NvmeV86[] = [];
  private seq = 0;
  /** exec, snapshot and restore run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  private stopped = false;
  /** Whether exec must type its setup first: the tty may have onlcr on, or the shell lack the framing function. */
  private onlcr = true;

  constructor(
    readonly emulator: V86,
    readonly disk: CowBackend,
    private readonly identity: SnapshotIdentity,
    private readonly prompt: string,
    private readonly v86Version: string,
  ) {
    this.serial = new Serial((text) => emulator.serial0_send(text));
    emulator.add_listener("serial0-output-byte", (byte) => this.serial.pushByte(byte));
    this.screen = new Screen(emulator);
    this.keyboard = new Keyboard(emulator);
  }

  attached(nvme: NvmeV86 | undefined, second?: NvmeV86): void {
    this.controller = nvme;
    this.nvmeControllers = nvme ? (second ? [nvme, second] : [nvme]) : [];
  }

  get nvme(): NvmeV86 {
    if (!this.controller) throw new Error("this guest has no NVMe controller (booted with nvme: false)");
    return this.controller;
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.stopped) throw new Error("the guest is stopped");
      return fn();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  exec(cmd: string, execOptions: ExecOptions = {}): Promise<ExecResult> {
    if (typeof cmd !== "string") return Promise.reject(new TypeError("exec: the command must be a string"));
    let options: ExecOptions;
    try {
      options = normalizeOptionNames("exec", execOptions, "exec");
    } catch (e) {
      return Promise.reject(e);
    }
    return this.serialized(() => this.execNow(cmd, options));
  }

  /** exec() without waiting for the queue: for what holds the queue itself (a file transfer). */
  private async execNow(cmd: string, options: ExecOptions): Promise<ExecResult> {
    const n = ++this.seq;
    const from = this.serial.raw().length;
    const timeout = options.timeoutMs ?? 60_000;
    const setup = this.onlcr;
    this.serial.send(execInput(cmd, n, setup));
    try {
      const done = await this.serial.until(() => {
        const out = this.serial.raw().slice(from);
        return parseExec(out, n, this.prompt) ?? (!setup && framingMissing(out, this.prompt) ? "missing" : undefined);
      }, timeout, `\`${cmd}\` to finish`);
      if (done === "missing") {
        // The shell lost the framing (or never had it): once more, with it.
        this.onlcr = true;
        return this.execNow(cmd, options);
      }
      const { stdout, exitCode, onlcr } = done;
      this.onlcr = onlcr;
      return { stdout, exitCode };
    } catch (e) {
      // Interrupt the command so the shell takes the next one.
      if (e instanceof SerialTimeoutError && !this.stopped) this.serial.send("\x03");
      throw e;
    }
  }

  /** A transfer holds the queue from the namespace's addition to its removal: no snapshot sees it. */
  private transfer<T>(fn: (host: TransferHost) => Promise<T>): Promise<T> {
    return this.serialized(() => fn({ nvme: this.nvme, serial: this.serial, execNow: (cmd, options) => this.execNow(cmd, options) }));
  }

  putFile(path: string, data: Uint8Array | ArrayBuffer, options?: TransferOptions): Promise<void> {
    return this.transfer((host) => putFile(host, path, data, options));
  }

  getFile(path: string, options?: TransferOptions): Promise<Uint8Array> {
    return this.transfer((host) => getFile(host, path, options));
  }

  putDir(dir: string, tar: Uint8Array | ArrayBuffer, options?: TransferOptions): Promise<void> {
    return this.transfer((host) => putTar(host, dir, tar, options));
  }

  getDir(dir: string, options?: TransferOptions): Promise<Uint8Array> {
    return this.transfer((host) => getTar(host, dir, options));
  }

  snapshot(): Promise<GuestSnapshot> {
    return this.serialized(async () => {
      // Both in one synchronous step: v86's save runs before its promise is returned.
      const machine = this.emulator.save_state();
      const overlay = this.disk.saveOverlay();
      const serial = this.serial.raw();
      return { format: 1, identity: { ...this.identity }, machine: await machine, overlay, serial };
    });
  }

  restore(snapshot: GuestSnapshot): Promise<void> {
    return this.serialized(async () => {
      if (!snapshot || snapshot.format !== 1 || !(snapshot.machine instanceof ArrayBuffer || snapshot.machine instanceof Uint8Array) || !snapshot.overlay || !snapshot.identity) {
        throw new TypeError("restore: not a snapshot from guest.snapshot()");
      }
      const differs = mismatches(snapshot.identity, this.identity);
      if (differs.length > 0) throw new Error(`restore: the snapshot was taken with ${differs.join("; ")}`);
      const restored = restoreState(this.emulator, snapshot.machine);
      this.disk.restoreOverlay(snapshot.overlay);
      this.serial.reset(snapshot.serial);
      this.onlcr = !framingSetUp(snapshot.serial);
      await restored;
    });
  }

  /**
   * Puts a not yet running emulator into a state file's snapshot (identity already checked).
   * `untouched`: v86 loaded nothing into guest RAM above 1 MiB (no kernel, initrd or ACPI tables).
   */
  async resume(snapshot: GuestSnapshot, clockMs: number, untouched: boolean): Promise<void> {
    // v86's timers in the state are readings of the saver's clock: ours must not be behind it.
    advanceV86Clock(clockMs + 1);
    const behind = v86ClockBehind(this.emulator, clockMs);
    if (behind > 1000) {
      console.warn(`v86-nvme: v86 was loaded before v86-nvme could make its clock movable (load v86-nvme first): this resumed guest's timers wait ${Math.round(behind / 1000)} s`);
    }
    try {
      // Checked before v86 sees anything: a malformed overlay must not follow a restored machine,
      // and v86's set_state() trusts every entry's type and size (this emulator's own state is the
      // reference: same v86, same machine).
      checkV86StateAgainst(snapshot.machine, await referenceState(this.emulator));
      this.disk.restoreOverlay(snapshot.overlay);
      if (untouched) await restoreFresh(this.emulator, snapshot.machine);
      else await restoreState(this.emulator, snapshot.machine);
    } catch (e) {
      throw new StateFileError(`the state could not be restored: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.serial.reset(snapshot.serial);
    this.onlcr = !framingSetUp(snapshot.serial);
  }

  async captureState(): Promise<Uint8Array> {
    await zeroFreeMemory(this.emulator, (cmd, options) => this.exec(cmd, options));
    const snapshot = await this.snapshot();
    // Read after the save: a resumer moving its clock past this is past every saved timer.
    const clockMs = v86ClockMs();
    // What a person resuming it sees of the console: not the commands that made it.
    const transcriptShown = transcriptBeforeExec(snapshot.serial).length;
    return encodeStateFile(snapshot, { v86Version: this.v86Version, prompt: this.prompt, clockMs, transcriptShown });
  }

  counters(): GuestCounters {
    const nvme = this.nvme;
    return { adapter: { ...nvme.counters }, controller: { ...nvme.controller.counters } };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.serial.close(new Error("the guest was stopped"));
    // A v86 that trapped in its main loop never reports that it stopped: neither wait is open-ended.
    const within = async (p: Promise<unknown>, ms: number): Promise<void> => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([p.catch(() => undefined), new Promise((r) => (timer = setTimeout(r, ms)))]);
      clearTimeout(timer);
    };
    await within(Promise.resolve().then(() => this.emulator.stop()), 2000);
    await within(Promise.resolve().then(() => this.emulator.destroy()), 2000);
    this.disk.reset();
  }
}
