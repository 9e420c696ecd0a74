// What the resume benchmark measures: its variants, its links (bench/stream's) and the shapes the
// page and the runner exchange.

export { LINKS, TARGET_LINK } from "../stream/plan.ts";

/**
 * "resume": the demo page (index.html) resuming this project's state file, NVMe disk lazily over
 * HTTP; "ide-cold": v86's async IDE disk booted cold from SeaBIOS; "ide-v86-state": v86's own
 * state image + async IDE disk (the copy.sh way).
 */
export const VARIANTS = ["resume", "ide-cold", "ide-v86-state"] as const;
export type Variant = (typeof VARIANTS)[number];

export const VARIANT_NAMES: Record<Variant, string> = {
  resume: "this project: state file + NVMe HTTP disk (demo page)",
  "ide-cold": "v86 async IDE disk, cold boot",
  "ide-v86-state": "v86's own state + async IDE disk (copy.sh way)",
};

/** What bench/resume/page.ts measured (ms since the page opened). */
export interface V86Result {
  promptMs: number;
  /** v86 loaded (files fetched, state restored), about to run. */
  loadedMs: number;
  resumed: boolean;
}
