import { closeSync, createReadStream, openSync, readFileSync, readSync, statSync } from "node:fs";
import { Decompress } from "fzstd";
import { join } from "node:path";
import type { IndexHtmlTransformContext, Plugin } from "vite";
import { defineConfig } from "vitest/config";
import { BIOS_URLS } from "./src/app/early-files.ts";
import { imageIdentity } from "./src/v86/identity.ts";

const PUBLIC = join(import.meta.dirname, "public");
const IMAGE = "guest/disk.img";
const MANIFEST = "guest/page-manifest.json";

/** The version of the v86 the page bundles: a state made with another is refused. */
const V86_VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, "node_modules/v86/package.json"), "utf8")) as { version: string }).version;

/** What the page reads about the bundled image before it opens it (src/app/resume.ts, PageManifest). */
interface PageManifest {
  image: { url: string; bytes: number; id: string } | null;
  bootTrace: string | null;
  state: { url: string; bytes: number; memory?: number; decodedBytes?: number } | null;
  resumeTrace: string | null;
}

/** JSON for inside a <script> element: no "<", so no "</script>". */
const json = (value: unknown): string => JSON.stringify(value).replaceAll("<", "\\u003c");

const fileSize = (path: string): number | undefined => {
  try {
    const s = statSync(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
};

let cachedId: { key: string; id: string } | undefined;
interface StateHeader {
  /** The guest RAM it was made with. */
  memory?: number;
  /** Its size decompressed. */
  decodedBytes?: number;
}
let cachedHeader: { key: string; header: StateHeader } | undefined;

/**
 * What a state file's header says (at the start of its zstd frame): the guest RAM, so the page
 * can make its machine while the state downloads, and the decompressed size, so a download the
 * browser decompresses goes into one buffer. Empty when it cannot be read.
 */
function stateHeader(path: string): StateHeader {
  const key = `${fileSize(path)}:${statSync(path).mtimeMs}`;
  if (cachedHeader?.key === key) return cachedHeader.header;
  const out: StateHeader = {};
  try {
    const head: Uint8Array[] = [];
    let have = 0;
    const z = new Decompress((chunk) => {
      if (have < 1 << 20) head.push(chunk);
      have += chunk.length;
    });
    const fd = openSync(path, "r");
    try {
      const buf = new Uint8Array(1 << 16);
      for (let at = 0; have < 1 << 16; at += buf.length) {
        const n = readSync(fd, buf, 0, buf.length, at);
        if (n === 0) break;
        z.push(buf.slice(0, n));
      }
    } finally {
      closeSync(fd);
    }
    const bytes = Buffer.concat(head);
    const jsonLength = bytes.readUInt32LE(12);
    const header = JSON.parse(bytes.subarray(24, 24 + jsonLength).toString("utf8")) as { identity?: { memory?: unknown } };
    if (typeof header.identity?.memory === "number") out.memory = header.identity.memory;
    out.decodedBytes = bytes.readUInt32LE(20);
  } catch {
    // the page learns them from the decoded state
  }
  cachedHeader = { key, header: out };
  return out;
}

/**
 * The bundled image's files as the page finds them: which exist (so the page asks for no file that
 * is absent: no failing request on a clean load) and the image's identity, hashed here from the
 * very bytes served (imageIdentity, as a state records it; the page cannot hash a lazy HTTP image).
 * Cached by size and modification time.
 */
function pageManifest(): PageManifest {
  const image = join(PUBLIC, IMAGE);
  const bytes = fileSize(image);
  const url = (p: string): string | null => (fileSize(join(PUBLIC, p)) !== undefined ? `/${p}` : null);
  let id = "";
  if (bytes !== undefined) {
    const key = `${bytes}:${statSync(image).mtimeMs}`;
    if (cachedId?.key !== key) cachedId = { key, id: imageIdentity(readFileSync(image)) };
    id = cachedId.id;
  }
  const stateBytes = fileSize(join(PUBLIC, `${IMAGE}.state.zst`));
  return {
    image: bytes !== undefined ? { url: `/${IMAGE}`, bytes, id } : null,
    bootTrace: url(`${IMAGE}.boot-trace.json`),
    state: stateBytes !== undefined ? { url: `/${IMAGE}.state.zst`, bytes: stateBytes, ...stateHeader(join(PUBLIC, `${IMAGE}.state.zst`)) } : null,
    resumeTrace: url(`${IMAGE}.resume-trace.json`),
  };
}

type Bundle = NonNullable<IndexHtmlTransformContext["bundle"]>;

/** The built asset whose file name matches `name` (hashed by the build), or an error saying what it is for. */
function builtAsset(bundle: Bundle, name: RegExp, what: string): Extract<Bundle[string], { type: "asset" }> {
  const built = Object.values(bundle).find((f) => f.type === "asset" && name.test(f.fileName));
  if (built?.type !== "asset") throw new Error(`the build has no ${what}`);
  return built;
}

/**
 * How index.html's first script starts src/app/state-download.ts: in a build, from the worker
 * bundle's code, put into the page (a worker made from it starts at once; one loaded from a URL
 * waited ~0.5 s for the page's busy thread before it asked for the state); on the dev server, from
 * its module.
 */
function stateDownloadWorker(bundle: IndexHtmlTransformContext["bundle"]): { url: string } | { source: string } {
  const module = "src/app/state-download.ts";
  if (!bundle) return { url: `/${module}?worker_file&type=module` };
  const built = builtAsset(bundle, /(^|\/)state-download-[\w-]+\.js$/, `worker bundle of ${module} (src/app/resume.ts starts it with new Worker(new URL(...)))`);
  return { source: String(built.source) };
}

/**
 * What index.html's first script fetches at once (src/app/early-files.ts): v86's wasm, built
 * (src/app/v86-wasm.ts imports its URL) or as the dev server serves it, and the BIOSes.
 */
function earlyFiles(bundle: IndexHtmlTransformContext["bundle"]): { v86Wasm: string; bios: readonly string[] } {
  if (!bundle) return { v86Wasm: "/node_modules/v86/build/v86.wasm", bios: BIOS_URLS };
  const built = builtAsset(bundle, /(^|\/)v86-[\w-]+\.wasm$/, "asset of v86's wasm (src/app/v86-wasm.ts imports v86/build/v86.wasm?url)");
  return { v86Wasm: `/${built.fileName}`, bios: BIOS_URLS };
}

/**
 * Serves /guest/page-manifest.json (dev server and preview), writes it into the page build, and
 * puts it into index.html (#guest-manifest) so the page's first script can start the state's
 * download before the page's modules have loaded.
 */
function guestManifest(): Plugin {
  const serve = (req: { url?: string }, res: import("node:http").ServerResponse, next: () => void): void => {
    if ((req.url ?? "").split("?")[0] !== `/${MANIFEST}`) return next();
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Cache-Control", "no-cache");
    res.end(JSON.stringify(pageManifest()));
  };
  return {
    name: "v86-nvme-guest-manifest",
    configureServer: (server) => void server.middlewares.use(serve),
    configurePreviewServer: (server) => void server.middlewares.use(serve),
    // After the build has bundled the page's scripts: the first script starts the state's
    // download in src/app/resume.ts's worker, built, and fetches v86's wasm and the BIOSes.
    transformIndexHtml: {
      order: "post",
      handler: (_html, ctx) => [
        { tag: "script", attrs: { id: "guest-manifest", type: "application/json" }, children: json(pageManifest()), injectTo: "head-prepend" },
        { tag: "script", attrs: { id: "state-download", type: "application/json" }, children: json(stateDownloadWorker(ctx.bundle)), injectTo: "head-prepend" },
        { tag: "script", attrs: { id: "early-files", type: "application/json" }, children: json(earlyFiles(ctx.bundle)), injectTo: "head-prepend" },
      ],
    },
    generateBundle() {
      this.emitFile({ type: "asset", fileName: MANIFEST, source: JSON.stringify(pageManifest()) });
    },
  };
}

/**
 * Serves state files (`*.state.zst`) with Content-Encoding: zstd to a browser that accepts it: the
 * browser decompresses the download as it arrives, and the page skips its own decoder (what the
 * README asks of a server, shown here).
 */
function stateEncoding(): Plugin {
  const serve = (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse, next: () => void): void => {
    const path = decodeURIComponent((req.url ?? "").split("?")[0]);
    const file = join(PUBLIC, path);
    if (!path.endsWith(".state.zst") || !file.startsWith(PUBLIC + "/") || !/\bzstd\b/.test(String(req.headers["accept-encoding"] ?? ""))) return next();
    const bytes = fileSize(file);
    if (bytes === undefined) return next();
    res.setHeader("Content-Type", "application/octet-stream");
    res.setHeader("Content-Encoding", "zstd");
    res.setHeader("Content-Length", bytes);
    res.setHeader("Vary", "Accept-Encoding");
    res.setHeader("Cache-Control", "no-cache");
    if (req.method === "HEAD") return void res.end();
    createReadStream(file).pipe(res);
  };
  return {
    name: "v86-nvme-state-encoding",
    configureServer: (server) => void server.middlewares.use(serve),
    configurePreviewServer: (server) => void server.middlewares.use(serve),
  };
}

export default defineConfig({
  plugins: [guestManifest(), stateEncoding()],
  // Classic workers: index.html's first script runs the state's download worker from its code.
  worker: { format: "iife" },
  define: { __V86_VERSION__: JSON.stringify(V86_VERSION) },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  preview: { host: "127.0.0.1", port: 4173, strictPort: true },
  // The demo page (`npm run build:page`); dist/ is the library's (vite.lib.config.ts).
  build: { target: "es2022", sourcemap: true, outDir: "build/page" },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
  },
});
