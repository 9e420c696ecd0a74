// The guest machine, for Node (src/node/) and pages (src/playwright/runtime.ts) alike.
export { bootGuest, DEFAULT_MEMORY, DEFAULT_PROMPT } from "./machine.ts";
export { BootError } from "./boot-error.ts";
export { readableConsole } from "./exec.ts";
export { packTar, unpackTar, type TarEntry } from "./tar.ts";
export { decodeStateFile, StateFileError, type StateFileInfo } from "../index.ts";
export type {
  GuestConfig, GuestNvmeOptions, BootOptions, Guest, GuestSnapshot, SnapshotIdentity,
  GuestScreen, SerialConsole, WaitOptions, ExecOptions, ExecResult, GuestCounters,
  GuestKeyboard, ScreenWaitOptions, TransferOptions, ImageBlob,
} from "./types.ts";
