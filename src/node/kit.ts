// The guest kit (package v86-nvme-guest): a ready image, SeaBIOS and a saved state, for
// bootGuest() with no image and for the Playwright fixture's defaults. An optional dependency:
// loaded when asked for, with an error saying how to get it when it is not installed.

/** What v86-nvme-guest/node exports. */
export interface GuestKit {
  files: {
    image: string;
    bios: string;
    vgaBios: string;
    /** The state taken at the shell prompt (absent in a kit built without one). */
    state?: string;
    bootTrace?: string;
    manifest: string;
  };
  manifest: {
    image: { id: string; bytes: number; sha256: string };
    memory: number;
    v86Version: string;
    stateFormat: number;
  };
}

const KIT = "v86-nvme-guest/node";

export async function guestKit(context: string): Promise<GuestKit> {
  try {
    return (await import(/* @vite-ignore */ KIT)) as GuestKit;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new Error(`${context} and the guest kit is not installed: npm install --save-dev v86-nvme-guest (a ready Linux image with nvme-cli and fio, SeaBIOS and a saved state), or pass your own image and bios`);
    }
    throw e;
  }
}
