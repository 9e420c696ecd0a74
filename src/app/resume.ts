// Resuming the bundled guest from its saved state (`<image>.state.zst`, made by
// `npm run make:state`): the page manifest says which of the image's files exist and the image's
// identity (vite.config.ts hashes the served image), the state is downloaded with a progress bar,
// decoded and checked against this page (image, disk size, controller configuration, v86), and
// handed to the machine. Anything wrong gives a reason in words and the page boots cold.

import { decodeStateFile, isZstdFrame, nvmeConfigKey, stateMismatches, type MachineSnapshot, type StateFileInfo } from "../index.ts";
import type { OnProgress } from "./loader.ts";
import { RESUME_NVME_OPTIONS } from "./machine.ts";
import type { StateDownloadMessage, StateDownloadRequest } from "./state-download.ts";
import { fetchState } from "./state-fetch.ts";
import type { StateWorkerAnswer, StateWorkerRequest } from "./state-worker.ts";
import { v86Module } from "./v86-wasm.ts";

/** A state decodes in a second or two; a worker still busy after this is stopped. */
const DECODE_TIMEOUT_MS = 20_000;

/** decodeStateFile in a worker (`bytes` is handed over); throws with the decoder's words. */
async function decodeInWorker(bytes: ArrayBuffer): Promise<ReturnType<typeof decodeStateFile>> {
  // v86's wasm is being compiled beside the download; without it, the JavaScript decoder.
  const v86 = await v86Module().catch(() => undefined);
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL("./state-worker.ts", import.meta.url), { type: "module" });
    const timer = setTimeout(() => {
      worker.terminate();
      reject(new Error(`decoding took more than ${DECODE_TIMEOUT_MS / 1000} s`));
    }, DECODE_TIMEOUT_MS);
    worker.onmessage = (ev: MessageEvent<StateWorkerAnswer>) => {
      clearTimeout(timer);
      worker.terminate();
      if (ev.data.ok) resolve(ev.data.result);
      else reject(new Error(ev.data.message));
    };
    worker.onerror = (ev) => {
      clearTimeout(timer);
      worker.terminate();
      ev.preventDefault();
      reject(new Error(`the decoder failed: ${ev.message || "worker error"}`));
    };
    worker.postMessage({ bytes, v86 } satisfies StateWorkerRequest, [bytes]);
  });
}

/** /guest/page-manifest.json (served and built by vite.config.ts). */
export interface PageManifest {
  /** The bundled image: its URL, size and imageIdentity() (what a state records). */
  image: { url: string; bytes: number; id: string } | null;
  /** The image's boot trace, when there is one. */
  bootTrace: string | null;
  /** The image's saved state, when there is one; the guest RAM it was made with and its decompressed size (when known). */
  state: { url: string; bytes: number; memory?: number; decodedBytes?: number } | null;
  /** What a resumed guest reads first (scripts/trace-resume.ts), when recorded. */
  resumeTrace: string | null;
}

export const MANIFEST_URL = "/guest/page-manifest.json";

declare global {
  interface Window {
    /**
     * The state's download, started by index.html's first script in the worker
     * src/app/state-download.ts: what it said before the page listened is in `said` ("error": it stopped).
     */
    v86NvmeStateDownload?: { url: string; worker: Worker; said: (StateDownloadMessage | "error")[] };
  }
}

/** Why the download worker stopped without an answer (it did not load or start): the page downloads the state itself. */
class WorkerFailed extends Error {}

/** The state's bytes and their ReceivedCrc, downloaded by the worker (index.html's, when it started one for this URL). */
function downloadInWorker(url: string, decodedSize: number | undefined, onProgress: OnProgress): Promise<{ bytes: ArrayBuffer; crc: number }> {
  let early = window.v86NvmeStateDownload;
  window.v86NvmeStateDownload = undefined;
  if (early && early.url !== url) {
    early.worker.terminate();
    early = undefined;
  }
  let worker = early?.worker;
  if (!worker) {
    worker = new Worker(new URL("./state-download.ts", import.meta.url), { type: "module" });
    worker.postMessage({ url: new URL(url, location.href).href, decodedSize } satisfies StateDownloadRequest);
  }
  const w = worker;
  return new Promise((resolve, reject) => {
    const take = (m: StateDownloadMessage | "error"): void => {
      if (m !== "error" && m.kind === "progress") return onProgress(m);
      w.terminate();
      if (m === "error") reject(new WorkerFailed("the download worker stopped"));
      else if (m.kind === "done") resolve({ bytes: m.bytes, crc: m.crc });
      else reject(new Error(m.message));
    };
    w.onmessage = (ev: MessageEvent<StateDownloadMessage>) => take(ev.data);
    w.onerror = (ev) => {
      ev.preventDefault();
      take("error");
    };
    for (const m of early?.said.splice(0) ?? []) take(m);
  });
}

/** The manifest (index.html carries it; else asked for), or undefined when the server has none (a static copy of the page without it). */
export async function loadManifest(): Promise<PageManifest | undefined> {
  try {
    const inline = document.getElementById("guest-manifest")?.textContent;
    if (inline) return JSON.parse(inline) as PageManifest;
  } catch {
    // asked for below
  }
  try {
    const res = await fetch(MANIFEST_URL, { headers: { Accept: "application/json" }, cache: "no-cache" });
    if (!res.ok || !/json/i.test(res.headers.get("content-type") ?? "")) {
      await res.body?.cancel().catch(() => {});
      return undefined;
    }
    const m = (await res.json()) as PageManifest;
    return m && typeof m === "object" && "image" in m ? m : undefined;
  } catch {
    return undefined;
  }
}

/** A state ready to resume. */
export interface Resumable {
  info: StateFileInfo;
  snapshot: MachineSnapshot;
  /** Bytes downloaded (decompressed when the server sent them with Content-Encoding: zstd). */
  bytes: number;
  /** Download and decode times, ms. */
  downloadMs: number;
  decodeMs: number;
}

/** Why the state was not resumed: shown on the page, which boots cold. */
export class NoResume extends Error {}

/** The stored download of the state: a second boot of the page does not fetch it again. */
let downloaded: { url: string; bytes: ArrayBuffer } | undefined;

/** Downloads the state (progress as it comes) and decodes it off the page's thread. NoResume when it cannot. */
export async function loadState(m: PageManifest, onProgress: OnProgress, onDownloaded?: () => void): Promise<Resumable> {
  if (!m.state || !m.image) throw new NoResume("there is no saved state for this image");
  const url = m.state.url;
  const t0 = performance.now();
  let bytes: ArrayBuffer;
  let receivedCrc: number | undefined;
  if (downloaded?.url === url) bytes = downloaded.bytes;
  else {
    try {
      const size = m.state.decodedBytes;
      ({ bytes, crc: receivedCrc } = await downloadInWorker(url, size, onProgress).catch((e: unknown) => {
        if (e instanceof WorkerFailed) return fetchState(url, size, onProgress);
        throw e;
      }));
    } catch (e) {
      throw new NoResume(`the saved state ${url} could not be downloaded: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const size = bytes.byteLength;
  const t1 = performance.now();
  onDownloaded?.();
  let decoded: ReturnType<typeof decodeStateFile>;
  // A server that sends the file with Content-Encoding: zstd leaves the browser to decompress it
  // as it arrives (the page's server does): only the checks are left, here. Else the zstd frame
  // goes to a worker, and a copy stays for the next boot of this page.
  const compressed = isZstdFrame(bytes);
  const keep = compressed ? bytes.slice(0) : bytes;
  try {
    decoded = compressed ? await decodeInWorker(bytes) : decodeStateFile(bytes, { own: true, receivedCrc });
  } catch (e) {
    downloaded = undefined;
    throw new NoResume(`the saved state ${url} is damaged: ${e instanceof Error ? e.message : String(e)}`);
  }
  downloaded = { url, bytes: keep };
  return { ...decoded, bytes: size, downloadMs: t1 - t0, decodeMs: performance.now() - t1 };
}

/**
 * Throws NoResume naming what differs when the state was made for another image, disk size,
 * controller or v86, or another RAM size than `memory` (the machine's, when made before the state arrived).
 */
export function checkState(r: Resumable, m: PageManifest, imageBytes: number, memory?: number): void {
  const url = m.state?.url ?? "the saved state";
  const { info } = r;
  const mem = info.identity.memory;
  if (!(mem >= 32 << 20 && mem <= 2048 * 2 ** 20 && mem % (1 << 20) === 0)) throw new NoResume(`the saved state ${url} asks for ${mem} bytes of RAM, which v86 cannot have`);
  const here = {
    imageId: m.image?.id ?? "",
    imageBytes,
    // The machine is made with the state's RAM size (the manifest's, when made before it arrived).
    memory: memory ?? mem,
    nvme: nvmeConfigKey(RESUME_NVME_OPTIONS),
    ide: false,
  };
  const differs = stateMismatches(info, here, __V86_VERSION__);
  if (differs.length > 0) throw new NoResume(`the saved state ${url} was made with ${differs.join("; ")}`);
}
