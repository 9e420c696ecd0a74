/** What the kit holds and what its state was taken of (files/manifest.json). */
export interface GuestKitManifest {
  name: "v86-nvme-guest";
  /** The disk image: `id` is v86-nvme's imageIdentity() of its bytes, as state files record it. */
  image: { id: string; file: string; bytes: number; sha256: string };
  /** The guest's RAM in bytes (the state resumes only at this size). */
  memory: number;
  /** The controller configuration the state was taken with (nvmeConfigKey(), canonical JSON). */
  nvme: string;
  /** The v86 version that made the state (v86 restores only its own states). */
  v86Version: string;
  /** v86-nvme's state file format version. */
  stateFormat: number;
  /** The shell prompt the state waits at. */
  prompt: string;
  files: Record<"bios" | "vgaBios" | "bootTrace" | "state", { file: string; bytes: number; sha256: string }> & {
    state: { createdAt: string };
  };
  /** The image's partitions and boot labels (scripts/build-guest.sh's manifest). */
  disk: Record<string, unknown>;
  /** Debian package versions of the kernel, busybox, nvme-cli, fio and SeaBIOS. */
  packages: Record<string, unknown>;
}
