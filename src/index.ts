// v86-nvme's public API: attach an NVMe controller to a v86 emulator, or drive the controller
// directly (it needs no emulator: a WebAssembly.Memory holding guest RAM and a small host).
export { attachNvme } from "./v86/attach.ts";
export type { AttachNvmeOptions, NvmeV86 } from "./v86/attach.ts";
export type { AdapterCounters } from "./v86/attachment.ts";
export { checkV86StateAgainst, decodeStateFile, encodeStateFile, isZstdFrame, ReceivedCrc, StateFileError, STATE_FILE_FORMAT, stateMismatches, type DecodeOptions } from "./v86/state-file.ts";
export { referenceState, restoreFresh } from "./v86/fresh-machine.ts";
export { restoreState } from "./v86/rewind.ts";
export { v86Zstd, type ZstdDecompress } from "./v86/zstd.ts";
export type { MachineSnapshot, StateFileInfo, V86StateTree } from "./v86/state-file.ts";
export { imageIdentity, imageIdentityOf, mismatches, nvmeConfigKey } from "./v86/identity.ts";
export type { SnapshotIdentity } from "./v86/identity.ts";
export { advanceV86Clock, installV86Clock, releasePerformanceNow, v86ClockBehind, v86ClockMs, withV86Clock } from "./v86/clock.ts";
export type { LogLevel } from "./state/context.ts";
export { NvmeController, BAR0_SIZE } from "./controller/controller.ts";
export type { ControllerHost, ControllerSnapshot, GuestRam, NamespaceInfo, SharedControllerOptions } from "./controller/controller.ts";
export type { NvmeOptions, NamespaceOptions, DoorbellPolicy } from "./state/options.ts";
export type { FaultLab } from "./v86/attach.ts";
export type { FaultSpec, InjectedFault, FaultOp, FaultStatus } from "./controller/faults.ts";
export { formatTrace } from "./controller/command-trace.ts";
export type { CommandTraceEntry } from "./controller/command-trace.ts";
/** The options' names: QEMU's aliases and the deprecated names of 0.1, and the renaming every entry applies. */
export { OPTION_NAMES, normalizeOptionNames } from "./backends/option-names.ts";
export type { OptionName, OptionScope } from "./backends/option-names.ts";
export { preloadHotPath } from "./hotpath-module.ts";
export type { HotPathWasm } from "./hotpath-module.ts";
export type { BlockBackend } from "./backends/block-backend.ts";
export { BackendError } from "./backends/block-backend.ts";
export { MemoryBackend } from "./backends/memory.ts";
export { FileBackend } from "./backends/file.ts";
export type { BlobLike, FileBackendOptions } from "./backends/file.ts";
export { HttpBackend, HttpImageError } from "./backends/http.ts";
export { isWebPage } from "./backends/http-protocol.ts";
export type { HttpDiskOptions } from "./backends/http.ts";
export { OpfsBackend, OpfsMismatchError } from "./backends/opfs.ts";
export type { OpfsDiskOptions } from "./backends/opfs.ts";
export { CowBackend } from "./backends/cow-disk.ts";
export type { OverlaySnapshot } from "./backends/overlay.ts";
export { openDisk, describeDisk } from "./backends/open.ts";
export type { DiskSpec } from "./backends/open.ts";
export { exportStream, saveDisk } from "./backends/export.ts";
export { V86DiskBuffer } from "./backends/v86-buffer.ts";
export type { ReadSource } from "./backends/block-backend.ts";
/** Where a persistent disk's blocks are (OpfsBackend's map): written, zeroed, or still in the image. */
export { FROM_BASE, FROM_FILE, FROM_ZERO } from "./backends/block-map.ts";
