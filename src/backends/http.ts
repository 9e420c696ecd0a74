// A disk image read lazily over HTTP: Range requests (or pre-split part files) sized to the
// access pattern, a few in flight at once with the guest's own reads first, kept in an LRU cache
// with a byte budget; read-ahead for sequential readers; a boot trace next to the image streamed
// ahead of the guest; writes in a copy-on-write overlay in memory. Every response is checked
// (status, Content-Range, length, validator), so a server that ignores Range, lies about lengths
// or changes the image under us produces an error, never wrong bytes.

import { BackendError, type ReadSource } from "./block-backend.ts";
import { checkBootTrace } from "./boot-trace.ts";
import { consoleLog, type Log } from "./log.ts";
import { besides, discardBody, fetchTrace, isWebPage, message, parseContentRange, probeSignal, strongEtag, tracePath } from "./http-protocol.ts";
import { ChunkCache, type ChunkCacheStats } from "./chunk-cache.ts";
import { CowBackend, type CowOptions } from "./cow-disk.ts";

/** With the overlay's options (memoryBudget, spill, blockSize): the disk is a CowBackend. */
export interface HttpDiskOptions extends CowOptions {
  /** Most bytes per Range request, a multiple of 512 (default 256 KiB). With `parts`: the part size, and every request is one part. */
  chunkSize?: number;
  /**
   * Cache unit and smallest request, a multiple of 512 dividing chunkSize (default 16 KiB, or
   * the largest divisor of chunkSize up to that). A guest read that misses fetches its range
   * rounded out to granules; read-ahead and the boot trace fetch up to a chunk per request.
   */
  granule?: number;
  /** Budget of the cache (default 32 MiB). Memory use is this plus maxRequests × chunkSize in flight plus the overlay (plus prefetchBytes while a boot trace streams). */
  cacheBytes?: number;
  /** Chunks read ahead of a sequential reader at most: one at first, then twice what it read in sequence (default 4; 0 turns it off). */
  readAhead?: number;
  /**
   * Range requests in flight at once (default 4, below browsers' 6 connections per host so the
   * page can still load). Read-ahead and the boot trace use at most one less: the guest's own
   * reads go first.
   */
  maxRequests?: number;
  /**
   * URL of a boot trace (`npm run trace:boot` writes one next to the image): the ranges it names
   * are streamed ahead of the guest. Default `${url}.boot-trace.json` (the URL's path, without its
   * query), tried once; 404 means none.
   * A trace that does not match the image or does not parse is ignored with a warning. false: off.
   */
  bootTrace?: string | false;
  /**
   * Most bytes of a boot trace fetched ahead of the guest and not read yet (default 128 MiB).
   * They are held on top of cacheBytes until the guest read them, so the link streams the boot's
   * reads while the guest is busy computing; once the trace is done the cache is back to cacheBytes.
   * 0: the trace is not streamed.
   */
  prefetchBytes?: number;
  /**
   * The boot trace streams only once this settles (its ranges are fetched with the probe either
   * way): when something else must come first over the same link, e.g. a saved state the guest
   * cannot run without.
   */
  traceAfter?: Promise<unknown>;
  /** Image size in bytes when known: skips the size probe. Required with `parts`. */
  size?: number;
  /**
   * Pre-split parts for hosts without Range support: a URL template with `{start}` (first byte),
   * `{end}` (last byte, inclusive), `{stop}` (end, exclusive) and `{index}`, resolved against the
   * image URL, e.g. "disk.img.{start}-{end}" ("disk.img.0-262143", ...). Every part is
   * `chunkSize` bytes except the last.
   */
  parts?: string;
  /** Extra attempts after a network error, a 5xx/408/429 answer or a cut-off body (default 2). */
  retries?: number;
  /** Wait before the first retry, doubled for each next one (default 250 ms). */
  retryDelayMs?: number;
  /**
   * A request that gets no answer, or no body bytes, for this long is abandoned and counts as a
   * transient failure (retried like a network error). Default 20 000 ms, below the 30 s after
   * which Linux's nvme driver aborts a command; 0 waits forever.
   */
  timeoutMs?: number;
  /** Extra request headers (say, authorization). */
  headers?: Record<string, string>;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
}

export interface HttpStats extends ChunkCacheStats {
  /** HTTP requests sent, probes, the boot trace and retries included. */
  requests: number;
  /** Requests repeated after a transient failure. */
  retries: number;
}

/** Raised while opening an image: the URL cannot serve as a disk. */
export class HttpImageError extends Error {}

/** A failure worth another attempt (network, 5xx, cut-off body). */
class Transient extends Error {}

/** Bytes asked for by the size probe. */
const PROBE = 512;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEFAULT_TIMEOUT_MS = 20_000;
const KiB = 1024;
const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/** The image's bytes, rounded up to whole 512-byte sectors (the tail reads as zeros). */
export class HttpSource implements ReadSource {
  readonly byteLength: number;
  readonly cache: ChunkCache;
  private requests = 0;
  private retried = 0;
  /** Which version of the image was opened: its size and validator (strong ETag, else Last-Modified). */
  version = "";
  private readonly fetchFn: typeof fetch;
  private readonly log: Log;

  private constructor(
    readonly url: string,
    /** Size of the image on the server. */
    readonly imageSize: number,
    private readonly o: HttpDiskOptions,
    /** Strong validator of the image seen when opening; a different one later means it changed. */
    private readonly etag: string | undefined,
    fetchFn: typeof fetch,
    probeRequests: number,
    granule: number,
  ) {
    this.fetchFn = fetchFn;
    this.log = o.log ?? consoleLog;
    this.requests = probeRequests;
    this.byteLength = Math.ceil(imageSize / 512) * 512;
    this.cache = new ChunkCache(this.byteLength, (i, start, length) => this.fetchChunk(i, start, length), {
      chunkSize: o.chunkSize ?? 256 * KiB,
      granule,
      cacheBytes: o.cacheBytes ?? 32 * KiB * KiB,
      readAhead: o.readAhead ?? 4,
      maxFetches: o.maxRequests ?? 4,
      // The boot trace's requests may span 4 chunks where it runs on along the disk: a round trip
      // less per MiB (the large image's trace: 656 requests instead of 1,159). Parts are one each.
      planSpan: o.parts === undefined ? 4 : 1,
    });
  }

  /**
   * Whether a boot trace is being streamed ahead of the guest: settles once the trace was
   * fetched and checked (false: none, off, or ignored with a warning).
   */
  bootTrace: Promise<boolean> = Promise.resolve(false);

  /** Finds the image's size (unless given) and checks that the server can serve it in pieces. */
  static async open(url: string, o: HttpDiskOptions = {}): Promise<HttpSource> {
    const f = o.fetch ?? globalThis.fetch.bind(globalThis);
    const chunk = o.chunkSize ?? 256 * 1024;
    if (!Number.isSafeInteger(chunk) || chunk < 512 || chunk % 512 !== 0) throw new HttpImageError(`${url}: chunkSize must be a positive multiple of 512`);
    if (o.parts !== undefined) {
      if (o.size === undefined) throw new HttpImageError(`${url}: pre-split parts need the image size (option size)`);
      if (!/\{(start|end|stop|index)\}/.test(o.parts)) throw new HttpImageError(`${url}: parts template "${o.parts}" names no {start}, {end}, {stop} or {index}`);
    }
    const granule = o.parts !== undefined ? chunk : (o.granule ?? gcd(chunk, 16 * KiB));
    if (!Number.isSafeInteger(granule) || granule < 512 || granule % 512 !== 0 || chunk % granule !== 0) {
      throw new HttpImageError(`${url}: granule must be a multiple of 512 dividing chunkSize (${chunk})`);
    }
    if (o.maxRequests !== undefined && !(Number.isSafeInteger(o.maxRequests) && o.maxRequests >= 1)) throw new HttpImageError(`${url}: maxRequests must be a whole number ≥ 1`);
    if (o.prefetchBytes !== undefined && !(Number.isSafeInteger(o.prefetchBytes) && o.prefetchBytes >= 0)) throw new HttpImageError(`${url}: prefetchBytes must be a whole number of bytes ≥ 0`);
    const headers = { ...o.headers };
    const timeout = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // The trace is asked for alongside the probe, so it costs no round trip of its own.
    const traceUrl = o.bootTrace === false ? undefined : o.bootTrace === undefined ? tracePath(url) : besides(url, o.bootTrace);
    const trace = traceUrl === undefined ? undefined : fetchTrace(f, traceUrl, headers, timeout);
    trace?.catch(() => {}); // seen by followTrace, unless the probe fails first
    const opened = (size: number, etag: string | undefined, requests: number, lastModified?: string) => {
      const source = new HttpSource(url, size, o, etag, f, requests + (trace ? 1 : 0), granule);
      source.version = `${size} bytes${etag ? `, ETag ${etag}` : lastModified ? `, modified ${lastModified}` : ""}`;
      if (trace && traceUrl !== undefined) source.bootTrace = source.followTrace(traceUrl, trace, { size, etag, lastModified });
      return source;
    };
    if (o.size !== undefined) {
      if (!Number.isSafeInteger(o.size) || o.size <= 0) throw new HttpImageError(`${url}: bad size ${o.size}`);
      return opened(o.size, undefined, 0);
    }
    let requests = 1;
    let res: Response;
    // One sector, not "bytes=0-0": sirv (vite's static server) reads an end of 0 as "to the end
    // of the file" and would send the whole image in answer to the probe.
    try {
      res = await f(url, { headers: { ...headers, Range: `bytes=0-${PROBE - 1}` }, signal: probeSignal(timeout) });
    } catch (e) {
      throw new HttpImageError(`${url}: ${message(e)}`);
    }
    if (isWebPage(res.headers.get("content-type"))) {
      await discardBody(res);
      throw new HttpImageError(`${url} serves a web page, not a disk image (a server's answer for a path it does not have: check the URL)`);
    }
    if (res.status === 200) {
      await discardBody(res);
      throw new HttpImageError(
        `${url}: the server ignores HTTP Range requests (it answered 200 with the whole file to a request for ${PROBE} bytes); ` +
          "serve the image from a server that supports Range, or pre-split it and use the parts option",
      );
    }
    if (res.status !== 206) {
      await discardBody(res);
      throw new HttpImageError(`${url}: HTTP ${res.status} ${res.statusText} when probing the image size`);
    }
    const cr = parseContentRange(res.headers.get("content-range"));
    // A smaller image answers with all it has; never more than asked.
    const expected = cr?.total !== undefined ? Math.min(PROBE, cr.total) : PROBE;
    const declared = res.headers.get("content-length");
    if ((cr && (cr.start !== 0 || cr.end !== expected - 1)) || (declared !== null && Number(declared) > PROBE)) {
      await discardBody(res);
      throw new HttpImageError(`${url}: the server answered a request for bytes 0-${PROBE - 1} with ${cr ? `bytes ${cr.start}-${cr.end}` : `${declared} bytes`}`);
    }
    let body: Uint8Array;
    try {
      body = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw new HttpImageError(`${url}: ${message(e)}`);
    }
    if (body.length !== expected && !(cr === undefined && body.length < PROBE)) {
      throw new HttpImageError(`${url}: the server answered a request for bytes 0-${PROBE - 1} with ${body.length} bytes`);
    }
    let size = cr?.total;
    const etag = strongEtag(res.headers.get("etag"));
    if (size === undefined) {
      // Content-Range is hidden (a cross-origin server that does not expose it) or has no total.
      requests++;
      let head: Response;
      try {
        head = await f(url, { method: "HEAD", headers, signal: probeSignal(timeout) });
      } catch (e) {
        throw new HttpImageError(`${url}: ${message(e)}`);
      }
      const len = head.headers.get("content-length");
      if (!head.ok || len === null || !/^\d+$/.test(len)) {
        throw new HttpImageError(`${url}: cannot learn the image size (no Content-Range total, HEAD gave ${head.status} without Content-Length); pass the size option`);
      }
      size = Number(len);
    }
    if (!Number.isSafeInteger(size) || size <= 0) throw new HttpImageError(`${url}: bad image size ${size}`);
    return opened(size, etag, requests, res.headers.get("last-modified") ?? undefined);
  }

  /** Streams the trace's ranges ahead of the guest when it matches the image; warns once when it does not. */
  private async followTrace(traceUrl: string, trace: Promise<unknown>, image: { size: number; etag?: string; lastModified?: string }): Promise<boolean> {
    let json: unknown;
    try {
      json = await trace;
    } catch (e) {
      this.log("warn", `v86-nvme: boot trace ${traceUrl} ignored: ${message(e)}`);
      return false;
    }
    if (json === undefined) return false;
    const ranges = checkBootTrace(json, image);
    if (typeof ranges === "string") {
      this.log("warn", `v86-nvme: boot trace ${traceUrl} ignored: ${ranges}`);
      return false;
    }
    // All of a small trace, or as much of a big one as prefetchBytes allows, held until read.
    const lead = Math.min(ranges.reduce((n, [, length]) => n + length, 0), this.o.prefetchBytes ?? 128 * KiB * KiB);
    if (lead === 0) return false;
    await this.o.traceAfter?.catch(() => {});
    this.cache.prefetchPlan(ranges, lead, lead);
    return true;
  }

  get stats(): HttpStats {
    return { ...this.cache.stats, requests: this.requests, retries: this.retried };
  }

  tryRead(offset: number, dst: Uint8Array): boolean {
    return this.cache.tryRead(offset, dst);
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return this.cache.read(offset, length);
  }

  private async fetchChunk(index: number, start: number, length: number): Promise<Uint8Array> {
    const retries = this.o.retries ?? 2;
    let delay = this.o.retryDelayMs ?? 250;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetchOnce(index, start, length);
      } catch (e) {
        if (!(e instanceof Transient) || attempt >= retries) {
          throw e instanceof BackendError ? e : new BackendError(message(e), "read");
        }
        this.retried++;
        await sleep(delay);
        delay *= 2;
      }
    }
  }

  private partUrl(index: number, start: number, stop: number): string {
    const name = this.o.parts!
      .replaceAll("{start}", String(start))
      .replaceAll("{end}", String(stop - 1))
      .replaceAll("{stop}", String(stop))
      .replaceAll("{index}", String(index));
    return besides(this.url, name);
  }

  private async fetchOnce(index: number, start: number, length: number): Promise<Uint8Array> {
    const stop = Math.min(start + length, this.imageSize); // the bytes that exist on the server
    const parts = this.o.parts !== undefined;
    const url = parts ? this.partUrl(index, start, stop) : this.url;
    const where = parts ? url : `${this.url} bytes ${start}-${stop - 1}`;
    const headers: Record<string, string> = { ...this.o.headers };
    if (!parts) headers.Range = `bytes=${start}-${stop - 1}`;
    this.requests++;
    // A watchdog: armed while waiting for the answer, re-armed by every piece of the body.
    const timeout = this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const abort = timeout > 0 ? new AbortController() : undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const alive = () => {
      if (!abort) return;
      clearTimeout(timer);
      timer = setTimeout(() => abort.abort(new Error(`no data for ${timeout} ms`)), timeout);
    };
    alive();
    try {
      return await this.exchange(url, where, headers, start, stop, length, abort?.signal, alive);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One request and its checked answer (fetchOnce's body); `alive` notes progress. */
  private async exchange(url: string, where: string, headers: Record<string, string>, start: number, stop: number, length: number, signal: AbortSignal | undefined, alive: () => void): Promise<Uint8Array> {
    const want = stop - start;
    const parts = this.o.parts !== undefined;
    let res: Response;
    try {
      res = await this.fetchFn(url, { headers, signal });
    } catch (e) {
      throw new Transient(`${where}: ${signal?.aborted ? message(signal.reason) : message(e)}`);
    }
    alive();
    const fail = async (text: string, transient: boolean): Promise<never> => {
      await discardBody(res);
      throw transient ? new Transient(`${where}: ${text}`) : new BackendError(`${where}: ${text}`, "read");
    };
    if (res.status >= 500 || res.status === 408 || res.status === 429) return fail(`HTTP ${res.status}`, true);
    if (!parts) {
      if (res.status === 200 && !(start === 0 && stop === this.imageSize)) {
        return fail("the server ignored the Range request and answered 200 with the whole file", false);
      }
      if (res.status !== 206 && res.status !== 200) return fail(`HTTP ${res.status}`, false);
      const cr = parseContentRange(res.headers.get("content-range"));
      if (cr && (cr.start !== start || cr.end !== stop - 1)) return fail(`the server sent bytes ${cr.start}-${cr.end} instead`, false);
      if (cr?.total !== undefined && cr.total !== this.imageSize) {
        return fail(`the server reports the image as ${cr.total} bytes, not ${this.imageSize} (did it change?)`, false);
      }
    } else if (!res.ok) return fail(`HTTP ${res.status}`, false);
    const declared = res.headers.get("content-length");
    if (declared !== null && Number(declared) > want) return fail(`the server sends ${declared} bytes, expected ${want}`, false);
    const etag = strongEtag(res.headers.get("etag"));
    if (!parts && this.etag && etag && etag !== this.etag) return fail(`the image changed on the server (ETag ${etag}, was ${this.etag})`, false);
    // Bytes past `want` are the zero tail past the end of the image.
    const out = new Uint8Array(length);
    let got = 0;
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (e) {
          throw new Transient(`${where}: body: ${signal?.aborted ? message(signal.reason) : message(e)}`);
        }
        if (r.done) break;
        alive();
        if (got + r.value.length > want) {
          // A long body means the server is not sending what we asked for.
          await reader.cancel().catch(() => {});
          throw new BackendError(`${where}: got more than the ${want} bytes asked for`, "read");
        }
        out.set(r.value, got);
        got += r.value.length;
      }
    }
    // A cut connection gives a short body.
    if (got < want) throw new Transient(`${where}: got ${got} bytes, expected ${want}`);
    return out;
  }
}

/** An HTTP image as a writable disk; writes stay in memory (see CowBackend for the guarantees). */
export class HttpBackend extends CowBackend {
  declare readonly base: HttpSource;

  constructor(source: HttpSource, o: HttpDiskOptions = {}) {
    super(source, o);
  }

  /** Opens `url` (probing its size unless `size` is given) as a disk. */
  static async open(url: string, o: HttpDiskOptions = {}): Promise<HttpBackend> {
    return new HttpBackend(await HttpSource.open(url, o), o);
  }

  get stats(): HttpStats {
    return this.base.stats;
  }

  /**
   * The image as the server has it now (URL, size, validator): what an overlay kept across reloads
   * must be over, so a rebuilt image at the same URL is not read under the old image's changes.
   */
  get identity(): string {
    return `${this.base.url} (${this.base.version})`;
  }
}
