// Loads files as ArrayBuffers, reporting bytes received against the expected total.

export interface Progress {
  /** Bytes received so far. */
  loaded: number;
  /** Expected size, or 0 when unknown. */
  total: number;
}

export type OnProgress = (p: Progress) => void;

export interface FetchOptions {
  /** Sees the answer's headers before its body is read (throws to refuse it). */
  check?: (res: Response) => void;
  /** For a compressed body (Content-Encoding): the size it is expected to decompress to. */
  decodedSize?: number;
  /** Sees each piece of the (decoded) body as it arrives, in order. */
  onChunk?: (chunk: Uint8Array) => void;
}

/** GET `url`; the total is the Content-Length (for a compressed body `decodedSize`, else unknown). */
export async function fetchWithProgress(url: string, onProgress: OnProgress = () => {}, o: FetchOptions = {}): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw new Error(`cannot load ${url}: HTTP ${res.status} ${res.statusText}`);
  }
  try {
    o.check?.(res);
  } catch (e) {
    await res.body?.cancel().catch(() => {});
    throw e;
  }
  const encoding = res.headers.get("Content-Encoding");
  const encoded = !!encoding && encoding !== "identity";
  const total = encoded ? o.decodedSize ?? 0 : Number(res.headers.get("Content-Length")) || 0;
  if (!res.body) {
    const buf = await res.arrayBuffer();
    o.onChunk?.(new Uint8Array(buf));
    onProgress({ loaded: buf.byteLength, total: buf.byteLength });
    return buf;
  }
  return readStream(res.body, total, onProgress, url, encoded, o.onChunk);
}

/** The body into one buffer of `total` bytes (when known); `estimated`: the total may be off. */
async function readStream(body: ReadableStream<Uint8Array>, total: number, onProgress: OnProgress, what: string, estimated: boolean, onChunk?: (chunk: Uint8Array) => void): Promise<ArrayBuffer> {
  onProgress({ loaded: 0, total });
  const reader = body.getReader();
  // With a known size the bytes go straight into one buffer (a disk image can be hundreds of
  // MiB: no second copy); otherwise the chunks are joined at the end.
  let out: Uint8Array | undefined = total > 0 ? new Uint8Array(total) : undefined;
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onChunk?.(value);
    if (out && loaded + value.length <= out.length) out.set(value, loaded);
    else {
      if (out) {
        chunks.push(out.subarray(0, loaded)); // longer than announced
        out = undefined;
      }
      chunks.push(value);
    }
    loaded += value.length;
    onProgress({ loaded, total });
  }
  if (out) {
    if (loaded === out.length) return out.buffer as ArrayBuffer;
    if (!estimated) throw new Error(`${what}: got ${loaded} of ${out.length} bytes`);
    return out.slice(0, loaded).buffer;
  }
  const joined = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    joined.set(c, at);
    at += c.length;
  }
  return joined.buffer;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1048576).toFixed(1)} MiB`;
  return `${(n / 1073741824).toFixed(2)} GiB`;
}
