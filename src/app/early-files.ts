// What index.html's first script starts fetching before the page's modules have loaded (the
// list comes from vite.config.ts as #early-files): v86's wasm, compiled as it arrives, and
// SeaBIOS's files. v86 is then ready by the time the saved state has arrived, not ~40 ms after.
// Each is taken over once; a failed one is fetched again by the page, which says what failed.

/** SeaBIOS and its VGA BIOS, where the page's server has them (public/bios). */
export const BIOS_URLS = ["/bios/bios-256k.bin", "/bios/vgabios-stdvga.bin"] as const;

interface EarlyFiles {
  v86Wasm?: Promise<WebAssembly.Module>;
  bios?: Promise<[ArrayBuffer, ArrayBuffer]>;
}

declare global {
  interface Window {
    v86NvmeEarly?: EarlyFiles;
  }
}

/** What index.html's script started for `name`, or undefined (taken already, or never started). */
export function takeEarly<K extends keyof EarlyFiles>(name: K): EarlyFiles[K] | undefined {
  const early = window.v86NvmeEarly;
  const started = early?.[name];
  if (early) early[name] = undefined;
  return started;
}
