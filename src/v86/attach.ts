// attachNvme(emulator, options): the one call that puts an NVMe controller into v86.
//
//   const emulator = new V86({ ..., autostart: false });
//   emulator.add_listener("emulator-loaded", async () => {
//     const nvme = await attachNvme(emulator, { drive: MemoryBackend.fromBuffer(image), serial: "DISK1" });
//     emulator.run();
//   });
//
// Options are named like QEMU's `-device nvme` properties where they overlap (serial,
// max_ioqpairs, mdts, logical_block_size, drive as namespace 1, ...) plus the PCI placement
// (slot, bar_address, vendor_id, device_id, ...); everything else goes to the controller.
// Save/restore: emulator.save_state() includes the controller; restore with
// emulator.restore_state() after attaching (not with V86's initial_state option).

import type { BlockBackend } from "../backends/block-backend.ts";
import { NvmeController } from "../controller/controller.ts";
import type { NamespaceOptions, NvmeOptions } from "../state/options.ts";
import { DEFAULT_VENDOR_ID } from "../pci/config-space.ts";
import type { PlacementOptions } from "./attachment.ts";
import { NvmeAttachment } from "./attachment.ts";
import type { V86Emulator } from "./v86-types.ts";

export interface AttachNvmeOptions extends PlacementOptions, Omit<NvmeOptions, "namespaces" | "name" | "vendor_id" | "subsystem_vendor_id"> {
  /** The namespaces, in nsid order. */
  namespaces?: NamespaceOptions[];
  /** QEMU's drive=: a single namespace 1 on this backend. */
  drive?: BlockBackend;
  /** Block size of `drive`, and the default for namespaces that give none (QEMU: logical_block_size). */
  logical_block_size?: 512 | 4096;
}

/** The attached controller: the adapter, plus the controller's namespace methods for hot-add and removal. */
export type NvmeV86 = NvmeAttachment<NvmeController> & Pick<NvmeController, "addNamespace" | "removeNamespace" | "namespaces">;

export async function attachNvme(emulator: unknown, options: AttachNvmeOptions): Promise<NvmeV86> {
  const {
    slot: _slot, bar_address: _bar, device_id: _did, subsystem_id: _sid, revision: _rev, log: _log,
    drive, logical_block_size, namespaces, ...controllerOptions
  } = options;
  const lbs = logical_block_size;
  const ns = namespaces
    ? namespaces.map((n) => ({ ...n, logical_block_size: n.logical_block_size ?? lbs }))
    : drive
      ? [{ backend: drive, logical_block_size: lbs }]
      : undefined;
  if (!ns || ns.length === 0) throw new Error("attachNvme: give `drive` or `namespaces`");
  // The PCI ids and the Identify Controller VID/SSVID are the same numbers on real parts.
  const vendor = options.vendor_id ?? DEFAULT_VENDOR_ID;
  const placement: PlacementOptions = { ...options, vendor_id: vendor };
  const attachment = new NvmeAttachment<NvmeController>(emulator as V86Emulator, placement);
  const controller = await NvmeController.create(
    {
      ...controllerOptions,
      name: attachment.name,
      namespaces: ns,
      vendor_id: vendor,
      subsystem_vendor_id: options.subsystem_vendor_id ?? vendor,
    },
    attachment.guestRam(),
    attachment.host,
  );
  const plugged = attachment.plug(controller);
  return Object.assign(plugged, {
    addNamespace: (o: Parameters<NvmeController["addNamespace"]>[0]) => controller.addNamespace({ ...o, logical_block_size: o.logical_block_size ?? lbs }),
    removeNamespace: (nsid: number) => controller.removeNamespace(nsid),
    namespaces: () => controller.namespaces(),
  });
}
