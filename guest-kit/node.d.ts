import type { GuestKitManifest } from "./manifest.js";

export type { GuestKitManifest };

/** The kit's files as absolute paths. */
export declare const files: {
  /** The raw disk image (namespace 1; v86-nvme never writes it: the guest writes an overlay). */
  image: string;
  /** SeaBIOS with its NVMe boot driver. */
  bios: string;
  vgaBios: string;
  /** The guest at its shell prompt (absent in a kit built without one). */
  state?: string;
  /** The byte ranges a boot reads. */
  bootTrace: string;
  /** files/manifest.json. */
  manifest: string;
};

export declare const manifest: GuestKitManifest;
