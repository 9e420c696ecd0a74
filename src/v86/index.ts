// The v86 adapter's public surface.
export { attachNvme } from "./attach.ts";
export type { AttachNvmeOptions, NvmeV86 } from "./attach.ts";
export { NvmeAttachment, DEFAULT_BAR_ADDRESS, DEFAULT_SLOT } from "./attachment.ts";
export type { AdapterCounters, AttachableDevice, DeviceHost, PlacementOptions } from "./attachment.ts";
export { STATE_INDEX } from "./state.ts";
