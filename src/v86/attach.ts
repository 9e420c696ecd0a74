// attachNvme(emulator, options): the one call that puts an NVMe controller into v86.
//
//   const emulator = new V86({ ..., autostart: false });
//   emulator.add_listener("emulator-loaded", async () => {
//     const nvme = await attachNvme(emulator, { drive: MemoryBackend.fromBuffer(image), serial: "DISK1" });
//     emulator.run();
//   });
//
// Options: the controller's (serial, maxIoQueuePairs, mdts, ...), `drive` as namespace 1 or
// `namespaces`, and the PCI placement (slot, barAddress, vendorId, deviceId, ...). QEMU's
// `-device nvme` property names are accepted where they are the same option (max_ioqpairs,
// logical_block_size, dbcs); the table is src/backends/option-names.ts.
// Save/restore: emulator.save_state() includes the controller; restore with
// emulator.restore_state() after attaching (not with V86's initial_state option).
// `sharedWith: first` attaches a further controller of first's NVM subsystem: its own PCI function
// (default name first's + "c1", slot first's + 5, BAR0 64 KiB above first's) on the same namespaces.

import type { BlockBackend } from "../backends/block-backend.ts";
import { NvmeController } from "../controller/controller.ts";
import { normalizeNvmeOptionNames, type NamespaceOptions, type NvmeOptions } from "../state/options.ts";
import { normalizeOptionNames } from "../backends/option-names.ts";
import { DEFAULT_VENDOR_ID } from "../pci/config-space.ts";
import type { PlacementOptions } from "./attachment.ts";
import { DEFAULT_BAR_ADDRESS, DEFAULT_SLOT, NvmeAttachment } from "./attachment.ts";
import type { V86Emulator } from "./v86-types.ts";
import type { FaultSpec, InjectedFault } from "../controller/faults.ts";
import type { CommandTraceEntry } from "../controller/command-trace.ts";

export interface AttachNvmeOptions extends PlacementOptions, Omit<NvmeOptions, "namespaces" | "name" | "vendorId" | "subsystemVendorId" | "vendor_id" | "subsystem_vendor_id"> {
  /** The namespaces, in nsid order. */
  namespaces?: NamespaceOptions[];
  /** QEMU's drive=: a single namespace 1 on this backend. */
  drive?: BlockBackend;
  /** Block size of `drive`, and the default for namespaces that give none. QEMU: logical_block_size. */
  logicalBlockSize?: 512 | 4096;
  /** QEMU's name for logicalBlockSize. */
  logical_block_size?: 512 | 4096;
  /**
   * Attach a further controller of this one's NVM subsystem (Linux multipath: one nvme0n1 over
   * both): its namespaces, serial, model and NN are `sharedWith`'s; give none of them here.
   */
  sharedWith?: NvmeV86;
}

/** Fault injection and the command trace (the host's debugging state: not in snapshots, kept until clear()). */
export interface FaultLab {
  /** Injects a fault into the I/O commands that match it; throws an Error naming a bad field. */
  inject(spec: FaultSpec): InjectedFault;
  /** The faults injected, with how often each fired. */
  list(): InjectedFault[];
  /** Clears fault `id` (an id it does not have throws), or every fault. */
  clear(id?: number): void;
  /**
   * The last commands completed (traceLength, default 1000), oldest first: recorded from attach
   * when traceLength is given, else from the first inject().
   */
  trace(): CommandTraceEntry[];
}

/** The attached controller: the adapter, the controller's namespace methods for hot-add and removal, and the fault lab. */
export type NvmeV86 = NvmeAttachment<NvmeController> & Pick<NvmeController, "addNamespace" | "removeNamespace" | "namespaces"> & FaultLab;

export async function attachNvme(emulator: unknown, options: AttachNvmeOptions): Promise<NvmeV86> {
  const named = options && typeof options === "object" ? normalizeNvmeOptionNames(options, "attachNvme") : options;
  const {
    slot: _slot, barAddress: _bar, deviceId: _did, subsystemId: _sid, revision: _rev, log: _log, msix: _msix,
    drive, logicalBlockSize, namespaces, sharedWith, ...controllerOptions
  } = named ?? {};
  const lbs = logicalBlockSize;
  if (sharedWith) return attachShared(emulator, named, sharedWith, controllerOptions);
  const ns = namespaces
    ? namespaces.map((n) => ({ ...n, logicalBlockSize: n.logicalBlockSize ?? lbs }))
    : drive
      ? [{ backend: drive, logicalBlockSize: lbs }]
      : undefined;
  if (!ns || ns.length === 0) throw new Error("attachNvme: give `drive` or `namespaces`");
  // The PCI ids and the Identify Controller VID/SSVID are the same numbers on real parts.
  const vendor = named.vendorId ?? DEFAULT_VENDOR_ID;
  const placement: PlacementOptions = { ...named, vendorId: vendor };
  const attachment = new NvmeAttachment<NvmeController>(emulator as V86Emulator, placement);
  const controller = await NvmeController.create(
    {
      ...controllerOptions,
      name: attachment.name,
      namespaces: ns,
      vendorId: vendor,
      subsystemVendorId: named.subsystemVendorId ?? vendor,
    },
    attachment.guestRam(),
    attachment.host,
  );
  return plugged(attachment, controller, lbs);
}

/** A further controller of `first`'s subsystem on its own PCI function. */
async function attachShared(emulator: unknown, named: AttachNvmeOptions, first: NvmeV86, own: object): Promise<NvmeV86> {
  if (!(first instanceof NvmeAttachment) || !(first.device instanceof NvmeController)) throw new TypeError("attachNvme: sharedWith must be what attachNvme returned");
  for (const k of ["drive", "namespaces", "logicalBlockSize", "vendorId", "subsystemVendorId"] as const) {
    if (named[k] !== undefined) throw new Error(`attachNvme: ${k} comes from the controller it shares with (sharedWith)`);
  }
  const c = first.controller.config;
  const placement: PlacementOptions = {
    ...named,
    name: named.name ?? `${first.name}c${first.controller.controllerId}`,
    slot: named.slot ?? (first.options.slot ?? DEFAULT_SLOT) + 5, // the next PIRQ: an INTx line of its own
    barAddress: named.barAddress ?? (first.options.barAddress ?? DEFAULT_BAR_ADDRESS) + 0x10000,
    vendorId: c.vendorId,
    subsystemVendorId: c.subsystemVendorId,
  };
  const attachment = new NvmeAttachment<NvmeController>(emulator as V86Emulator, placement);
  const controller = await NvmeController.create({ ...own, name: attachment.name, sharedWith: first.controller }, attachment.guestRam(), attachment.host);
  return plugged(attachment, controller, undefined);
}

function plugged(attachment: NvmeAttachment<NvmeController>, controller: NvmeController, lbs: 512 | 4096 | undefined): NvmeV86 {
  return Object.assign(attachment.plug(controller), {
    addNamespace: (o: Parameters<NvmeController["addNamespace"]>[0]) => {
      const n = normalizeOptionNames("namespace", o, "addNamespace");
      return controller.addNamespace({ ...n, logicalBlockSize: n.logicalBlockSize ?? lbs });
    },
    removeNamespace: (nsid: number) => controller.removeNamespace(nsid),
    namespaces: () => controller.namespaces(),
    inject: (spec: FaultSpec) => controller.injectFault(spec),
    list: () => controller.faults(),
    clear: (id?: number) => controller.clearFaults(id),
    trace: () => controller.trace(),
  });
}
