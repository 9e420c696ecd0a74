// What nginx serves to the resume benchmark's browser: the demo page and bench/resume/page.html
// built for production by vite (the project's vite.config.ts: the page manifest with the image's
// identity goes into index.html), the public files (BIOS, image, state, traces) linked in, and the
// IDE copy of the image (syslinux's "ide" label) for v86's own disk. Served as a web server would
// serve a deployed page, so page open → prompt includes the page's own scripts and wasm.

import { existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { build } from "vite";
import { ROOT } from "../../test/project-guest/image.ts";
import { ideCopy } from "../stream/ide-copy.ts";

export const CACHE = join(ROOT, ".cache/bench-resume");

export interface Site {
  dir: string;
  /** Paths under the site's root. */
  demo: string;
  v86Page: string;
  image: string;
  ideImage: string;
  state: string;
}

/** Builds the site into .cache/bench-resume/site (replaced on every run). */
export async function buildSite(say: (msg: string) => void): Promise<Site> {
  const dir = join(CACHE, "site");
  rmSync(dir, { recursive: true, force: true });
  say("building the demo page and bench/resume/page.html (vite build)");
  await build({
    root: ROOT,
    configFile: join(ROOT, "vite.config.ts"),
    logLevel: "error",
    clearScreen: false,
    build: {
      outDir: dir,
      emptyOutDir: true,
      copyPublicDir: false,
      sourcemap: false,
      rollupOptions: { input: { index: join(ROOT, "index.html"), resume: join(ROOT, "bench/resume/page.html") } },
    },
  });
  // The public files, linked (the image is 200 MB); guest/ already holds the page manifest.
  for (const sub of ["bios", "guest"]) {
    mkdirSync(join(dir, sub), { recursive: true });
    for (const f of readdirSync(join(ROOT, "public", sub))) {
      if (!existsSync(join(dir, sub, f))) symlinkSync(join(ROOT, "public", sub, f), join(dir, sub, f));
    }
  }
  say("the image's IDE copy (syslinux's ide label)");
  ideCopy(join(ROOT, "public/guest/disk.img"), join(dir, "guest/disk-ide.img"));
  return { dir, demo: "index.html", v86Page: "bench/resume/page.html", image: "guest/disk.img", ideImage: "guest/disk-ide.img", state: "guest/disk.img.state.zst" };
}
