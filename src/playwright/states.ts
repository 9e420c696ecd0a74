// Which state a worker's page resumes, found or made in the worker process (Node) before the page
// opens: the guest kit's state when the options are the kit's; an explicit `state` file; or a state
// built once per image and options under Node (v86-nvme/node's bootGuest + saveState, faster and
// simpler than in the page) and kept in a cache directory keyed by their identity, shared by the
// workers and runs that start at once (state-cache.ts).

import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { guestKit } from "../node/kit.ts";
import { cachedFile, type CacheEntry } from "./state-cache.ts";
import type { FileInput, GuestPageOptions } from "./guest-page.ts";

/** The fixture's options about states (beside GuestPageOptions). */
export interface StateOptions {
  /**
   * A state file to resume (`<image>.state.zst` from `guest.saveState()` or `npm run make:state`):
   * its path or bytes. `false`: always boot cold. Default: the guest kit's state when the guest is
   * the kit's (no `image` option), otherwise a state made once under Node and kept in
   * `stateCacheDir`.
   */
  state?: FileInput | false;
  /**
   * Where made states are kept, one file per image + options (default: the environment's
   * V86NVME_STATE_CACHE, else node_modules/.cache/v86-nvme/states in the project's root, the
   * nearest directory with a package.json at or above playwright.config; relative paths are
   * from playwright.config's directory).
   * Cache this directory in CI.
   */
  stateCacheDir?: string;
}

/** Version of the cache key's layout; bump when it changes. */
const KEY_VERSION = 1;
/** Must match STATE_FILE_FORMAT (src/v86/state-file.ts); part of every cache key. */
const MIB = 1 << 20;

/** What the worker hands the page. */
export interface StatePlan {
  /** The page's options, with the kit's files filled in. */
  options: GuestPageOptions;
  /** The image's identity when it is not to be computed from its bytes (the kit's manifest id). */
  imageId?: string;
  /** The state to resume; none: a cold boot. */
  state?: {
    file: FileInput;
    /** How a report names it ("the guest kit's state", a path). */
    label: string;
    /** The cache entry's path, when it came from the cache (removed when the page refuses it). */
    cached?: string;
    /** How it was got from the cache. */
    entry?: CacheEntry;
    /** performance.now() of the process that saved it, when it saved it (known for states made here). */
    clockMs?: number;
  };
  /** Why there is no state to resume. */
  noState?: string;
  /** Something the report should say (a state that could not be made). */
  warning?: string;
}

export interface PlanContext {
  /** The default cache directory's base (playwright.config's directory). */
  configDir: string;
  /** The run's output directory (emptied per run): where a failed build is remembered. */
  runDir: string;
  /** Milliseconds a build may take to the prompt. */
  bootTimeoutMs: number;
  /** A line for the user while the worker makes a state or waits for one. */
  say: (line: string) => void;
}

/** The installed v86's version ("" when unknown). */
export function v86Version(): string {
  try {
    return (createRequire(import.meta.url)("v86/package.json") as { version?: string }).version ?? "";
  } catch {
    return "";
  }
}

/** A file's identity for the cache key: its size and a hash of its first and last MiB and 1024 blocks spread over it. */
function digest(value: FileInput | undefined): string {
  if (value === undefined) return "none";
  const h = createHash("sha256");
  const sample = (size: number, read: (at: number, len: number) => Uint8Array): void => {
    h.update(`${size}:`);
    const spans: [number, number][] = [[0, Math.min(size, MIB)], [Math.max(0, size - MIB), size]];
    const step = Math.max(4096, Math.floor(size / 1024));
    for (let at = 0; at < size; at += step) spans.push([at, Math.min(size, at + 4096)]);
    for (const [from, to] of spans) if (to > from) h.update(read(from, to - from));
  };
  if (typeof value === "string") {
    const size = statSync(value).size;
    const fd = openSync(value, "r");
    try {
      sample(size, (at, len) => {
        const b = Buffer.alloc(len);
        readSync(fd, b, 0, len, at);
        return b;
      });
    } finally {
      closeSync(fd);
    }
  } else {
    sample(value.byteLength, (at, len) => value.subarray(at, at + len));
  }
  return h.digest("hex");
}

/** The controller options as canonical JSON (sorted keys), as the state's identity keeps them. */
function canonical(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map(canonical);
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
}

/** A name a person can read, plus the hash of everything the state depends on. */
function cacheName(options: GuestPageOptions, imageId: string | undefined, version: string, stateFormat: number): string {
  const key = createHash("sha256")
    .update(
      JSON.stringify({
        key: KEY_VERSION,
        stateFormat,
        v86: version,
        imageId: imageId ?? null,
        image: digest(options.image),
        bios: digest(options.bios),
        vgaBios: digest(options.vgaBios),
        memory: options.memory ?? null,
        nvme: canonical(options.nvme ?? {}),
        prompt: options.prompt ?? null,
      }),
    )
    .digest("hex")
    .slice(0, 20);
  const base = typeof options.image === "string" ? basename(options.image).replace(/[^\w.-]+/g, "_") : "image";
  const mem = options.memory === undefined ? "" : `-${options.memory / MIB}M`;
  return `${base}${mem}-${key}.state.zst`;
}

/** The project's root: the nearest directory at or above `dir` with a package.json (else `dir`). */
function projectRoot(dir: string): string {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, "package.json"))) return d;
    if (dirname(d) === d) return resolve(dir);
  }
}

/** The option, else $V86NVME_STATE_CACHE, else node_modules/.cache/v86-nvme/states in the project's root. */
export function cacheDir(option: string | undefined, configDir: string): string {
  const dir = option ?? process.env.V86NVME_STATE_CACHE;
  return dir ? resolve(configDir, dir) : join(projectRoot(configDir), "node_modules", ".cache", "v86-nvme", "states");
}

const fmt = (ms: number): string => (ms < 10_000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);

/**
 * Finds the state the worker's page resumes, making it first (under Node, once among all workers)
 * when it is missing. A state that cannot be made leaves a cold boot with a warning.
 */
export async function planState(options: GuestPageOptions & StateOptions, ctx: PlanContext): Promise<StatePlan> {
  const { state, stateCacheDir, ...page } = options;
  let imageId: string | undefined;
  let kitState: string | undefined;
  if (page.image === undefined || page.image === "") {
    const kit = await guestKit("v86-nvme/playwright: the `image` option is not set");
    page.image = kit.files.image;
    page.bios ??= kit.files.bios;
    page.vgaBios ??= kit.files.vgaBios;
    imageId = kit.manifest.image.id;
    // The kit's state is for the kit's options only; other options get a state of their own.
    const kitOptions = (page.memory === undefined || page.memory === kit.manifest.memory) && page.nvme === undefined && page.prompt === undefined;
    if (kitOptions && kit.files.state) kitState = kit.files.state;
  }
  if (state === false) return { options: page, imageId, noState: "the `state` option is false" };
  if (state !== undefined) return { options: page, imageId, state: { file: state, label: typeof state === "string" ? state : "the `state` option's bytes" } };
  if (kitState) return { options: page, imageId, state: { file: kitState, label: "the guest kit's state" } };

  const { STATE_FILE_FORMAT } = await import("../index.ts");
  const dir = cacheDir(stateCacheDir, ctx.configDir);
  const version = v86Version();
  const name = cacheName(page, imageId, version, STATE_FILE_FORMAT);
  const what = typeof page.image === "string" ? basename(page.image) : "the image";
  try {
    const entry = await cachedFile({
      dir,
      name,
      failureFile: join(ctx.runDir, `v86-nvme-state-failed-${name}.txt`),
      waitMs: ctx.bootTimeoutMs + 180_000,
      onWait: (h) => ctx.say(`v86-nvme: waiting for process ${h.pid} to make the state of ${what} (${name})`),
      build: async (tmp) => {
        ctx.say(`v86-nvme: no saved state of ${what} in ${dir}: booting it once under Node to make one (other workers wait for it)`);
        const t0 = performance.now();
        const { bootGuest } = await import("../node/index.ts");
        const guest = await bootGuest(
          { image: page.image, bios: page.bios, vgaBios: page.vgaBios, memory: page.memory, nvme: page.nvme, prompt: page.prompt, imageId, state: false },
          { timeoutMs: ctx.bootTimeoutMs },
        );
        try {
          await guest.saveState(tmp);
          // v86's timers in the state count from this process's clock (see the page's clock shim).
          writeFileSync(join(dir, `${name}.json`), JSON.stringify({ clockMs: Math.ceil(performance.now()) }));
        } finally {
          await guest.stop();
        }
        ctx.say(`v86-nvme: made ${name} in ${fmt(performance.now() - t0)} (boot ${fmt(guest.bootMs)})`);
      },
    });
    let clockMs: number | undefined;
    try {
      clockMs = (JSON.parse(readFileSync(join(dir, `${name}.json`), "utf8")) as { clockMs?: number }).clockMs;
    } catch {
      /* made by an older version, or its note was lost: the page assumes a default */
    }
    return { options: page, imageId, state: { file: entry.path, label: entry.path, cached: entry.path, entry, clockMs } };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return { options: page, imageId, noState: `no state could be made: ${why}`, warning: `v86-nvme: no state of ${what} could be made (${why}); this worker boots the guest cold` };
  }
}

export { fmt as formatMs };
