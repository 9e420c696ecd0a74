// One v86 machine with the NVMe disk: created from loaded BIOS bytes and an open disk, the
// controller attached at `emulator-loaded`, then run. No IDE disk: SeaBIOS boots from NVMe.

import { V86 } from "v86";
import { instantiateV86 } from "./v86-wasm.ts";
import { advanceV86Clock, attachNvme, checkV86StateAgainst, MemoryBackend, referenceState, restoreFresh, type BlockBackend, type CowBackend, type DoorbellPolicy, type LogLevel, type MachineSnapshot, type NvmeV86 } from "../index.ts";

export const MEMORY_SIZE = 256 * 1024 * 1024;
export const DISK_SERIAL = "V86WEB0001";

/**
 * The controller options a resumed machine is attached with (their nvmeConfigKey must be the
 * state's): a state is made with the default controller, so no serial number of the page's.
 */
export const RESUME_NVME_OPTIONS = {};

/** Raised when v86 or the disk refuses a state's contents (the page then boots cold). */
export class ResumeError extends Error {}

export interface MachineInputs {
  bios: ArrayBuffer;
  vgaBios: ArrayBuffer;
  /** The NVMe namespace's disk (awaited when v86 has loaded: the machine can be made while it opens). */
  drive: BlockBackend | Promise<BlockBackend>;
  screen: HTMLElement;
  /** Makes the disks of namespaces the guest creates (default: memory). */
  createBackend?: (nsid: number, bytes: number) => Promise<BlockBackend>;
  /** The controller's shadow doorbell policy at power-on (switchable later). */
  doorbellPolicy?: DoorbellPolicy;
  /** Guest RAM in bytes (default MEMORY_SIZE; a resumed state's own size). */
  memory?: number;
  /**
   * A state to resume instead of booting, once it has arrived (the machine is made meanwhile):
   * `drive` must be the disk it was made over (a CowBackend). A rejection with a ResumeError boots
   * the page cold.
   */
  resume?: Promise<ResumeInput>;
}

export interface ResumeInput {
  snapshot: MachineSnapshot;
  /** The saver's v86 clock reading (the state file's clockMs): this page's clock is moved past it. */
  clockMs: number;
}

export interface MachineEvents {
  serialByte(byte: number): void;
  diskActivity(kind: "read" | "write"): void;
  attached(nvme: NvmeV86): void;
  /** A resumed machine is in its state, just before it runs. */
  restored?(): void;
  failed(error: unknown): void;
  /** Where the controller's messages go (default: the console). */
  log?(level: LogLevel, msg: string): void;
}

/** The backend for an image: used in place, or copied into a size padded to whole sectors. */
export function imageBackend(image: ArrayBuffer): MemoryBackend {
  if (image.byteLength === 0) throw new Error("the image is empty");
  const padded = Math.ceil(image.byteLength / 512) * 512;
  return padded === image.byteLength ? MemoryBackend.fromBuffer(image) : new MemoryBackend(padded, image);
}

export function startMachine(inputs: MachineInputs, on: MachineEvents): V86 {
  const emulator = new V86({
    wasm_fn: instantiateV86,
    bios: { buffer: inputs.bios },
    vga_bios: { buffer: inputs.vgaBios },
    memory_size: inputs.memory ?? MEMORY_SIZE,
    // States are made with v86's virtio-balloon (it zeroes free guest memory first): a resumed
    // machine needs the same devices.
    ...(inputs.resume ? { virtio_balloon: true } : {}),
    screen_container: inputs.screen,
    autostart: false,
    disable_mouse: true,
    disable_speaker: true,
  });
  emulator.add_listener("serial0-output-byte", on.serialByte);
  emulator.add_listener("nvme-read-end" as never, () => on.diskActivity("read"));
  emulator.add_listener("nvme-write-end" as never, () => on.diskActivity("write"));
  emulator.add_listener("emulator-loaded", async () => {
    try {
      const pending = inputs.resume;
      const drive = await inputs.drive;
      const nvme = await attachNvme(emulator, {
        drive,
        ...(pending ? RESUME_NVME_OPTIONS : { serial: DISK_SERIAL, doorbellPolicy: inputs.doorbellPolicy }),
        createBackend: inputs.createBackend,
        log: on.log,
      });
      if (pending) {
        // What this v86 saves (the reference the state's tree is checked against), while the state may still be on its way.
        const reference = await referenceState(emulator);
        const { snapshot: resume, clockMs } = await pending;
        try {
          // Checked before v86 sees anything: v86's state tree against what this v86 saves, and
          // the overlay's geometry.
          checkV86StateAgainst(resume.machine, reference);
          (drive as CowBackend).restoreOverlay(resume.overlay);
          // v86's timers in the state are readings of the saver's clock (see clock.ts).
          advanceV86Clock(clockMs + 1);
          // Nothing ran yet: v86 need not zero the RAM above the BIOSes first (fresh-machine.ts).
          await restoreFresh(emulator, resume.machine);
        } catch (e) {
          throw new ResumeError(`the state could not be restored: ${e instanceof Error ? e.message : String(e)}`);
        }
        // The state's controller runs the default policy: the page's choice is set on it.
        if (inputs.doorbellPolicy && nvme.controller.doorbellPolicy !== inputs.doorbellPolicy) nvme.controller.setDoorbellPolicy(inputs.doorbellPolicy);
        on.restored?.();
      }
      on.attached(nvme);
      await emulator.run();
    } catch (e) {
      on.failed(e);
    }
  });
  return emulator;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Stops and destroys an emulator. One that died inside its main loop never reports
 * `emulator-stopped`, so after a short wait the rest of destroy() is done by hand.
 */
export async function stopMachine(emulator: V86): Promise<void> {
  const e = emulator as V86 & Record<string, { destroy?: () => void } | undefined> & { v86?: { destroy(): void } };
  const stopped = await Promise.race([emulator.stop().then(() => true), sleep(1500).then(() => false)]);
  if (stopped) {
    await emulator.destroy();
    return;
  }
  for (const k of ["keyboard_adapter", "mouse_adapter", "screen_adapter", "serial_adapter", "speaker_adapter"]) {
    try {
      e[k]?.destroy?.();
    } catch {
      // a half-dead adapter: nothing more to release
    }
  }
  try {
    e.v86?.destroy();
  } catch {
    // same
  }
}
