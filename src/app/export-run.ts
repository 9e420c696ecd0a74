// One export of the disk in use, as the page shows it: a progress row with Cancel, then how it
// ended. Pausing the guest is the caller's (it knows the machine); this only says when.

import type { OpenDisk } from "./disk.ts";
import { exportDisk } from "./export.ts";
import { formatBytes } from "./loader.ts";
import type { ProgressBars } from "./progress.ts";

/**
 * Exports `disk`, calling `started` once the bytes start to flow (see exportDisk). Never
 * rejects: a failure ends up in the progress row.
 */
export async function runExport(disk: OpenDisk, progress: ProgressBars, started: () => void): Promise<void> {
  const abort = new AbortController();
  const stem = disk.name.replace(/\.(img|raw|bin)$/i, "");
  const label = `exporting ${disk.name}${disk.opfs ? " with its persistent changes" : ""} (the guest is paused)`;
  const t0 = performance.now();
  try {
    const result = await exportDisk(disk.backend, {
      name: `${stem}-export.img`,
      signal: abort.signal,
      onProgress: (done, total) => progress.show("export", label, done, total, () => abort.abort()),
      started,
    });
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    if (result === "cancelled") progress.done("export", "export cancelled", 3000);
    else progress.done("export", `exported ${formatBytes(disk.backend.byteLength)} in ${secs} s${result === "download" ? " (downloaded)" : ""}`, 6000);
  } catch (e) {
    progress.done("export", `export failed: ${e instanceof Error ? e.message : String(e)}`, 15_000);
  }
}
