import type { GuestKitManifest } from "./manifest.js";

export type { GuestKitManifest };

/** The kit's files as URLs (a bundler copies them into its output and rewrites these). */
export declare const urls: {
  /** The raw disk image (namespace 1): serve it where HTTP Range requests work. */
  image: URL;
  /** SeaBIOS with its NVMe boot driver. */
  bios: URL;
  vgaBios: URL;
  /** The guest at its shell prompt (a v86-nvme state file, zstd). */
  state: URL;
  /** The byte ranges a boot reads, for the HTTP disk to stream ahead. */
  bootTrace: URL;
};

export declare const manifest: GuestKitManifest;
