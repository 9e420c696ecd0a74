// bootGuest(): v86 + SeaBIOS + the NVMe disk, booted to the first shell prompt.

import type { BootOptions, Guest, GuestConfig } from "./types.ts";

/** Guest RAM when the config gives none. */
export const DEFAULT_MEMORY = 128 << 20;
export const DEFAULT_PROMPT = "guest# ";

export async function bootGuest(config: GuestConfig, options: BootOptions = {}): Promise<Guest> {
  void config;
  void options;
  throw new Error("bootGuest: not implemented yet");
}
