// The HTTP disk's small pieces of protocol: Content-Range and strong validators read from
// answers, bodies left unread freed, URLs beside the image, and the boot trace file fetched.

/** An error's message, whatever was thrown. */
export const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

interface ContentRange {
  start: number;
  end: number;
  total: number | undefined;
}

/** Parses "bytes a-b/total" (total may be "*"). */
export function parseContentRange(v: string | null): ContentRange | undefined {
  if (!v) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(v);
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

/** An abort signal for a whole small request (the size probe), or none. */
export const probeSignal = (ms: number) => (ms > 0 ? AbortSignal.timeout(ms) : undefined);

export async function discardBody(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // nothing to free
  }
}

/** `name` resolved against the image's URL (itself resolved against the page's). */
export function besides(url: string, name: string): string {
  return new URL(name, new URL(url, globalThis.location?.href ?? "http://localhost/")).href;
}

/** `<image path>.boot-trace.json` beside the image (without the image URL's query). */
export function tracePath(url: string): string {
  const u = new URL(besides(url, ""));
  u.pathname += ".boot-trace.json";
  u.search = u.hash = "";
  return u.href;
}

/** A boot trace is a few KiB; a larger answer is something else. */
const MAX_TRACE_BYTES = 4 * 1024 * 1024;

/** The boot trace's JSON, or undefined when there is none (404, 410, or a page instead of JSON). */
export async function fetchTrace(f: typeof fetch, url: string, headers: Record<string, string>, timeout: number): Promise<unknown> {
  // Accept: JSON, so a dev server does not answer with its index page for a missing file.
  const res = await f(url, { headers: { ...headers, Accept: "application/json" }, signal: probeSignal(timeout) });
  if (res.status === 404 || res.status === 410 || (res.ok && /text\/html/i.test(res.headers.get("content-type") ?? ""))) {
    await discardBody(res);
    return undefined;
  }
  if (!res.ok) {
    await discardBody(res);
    throw new Error(`HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get("content-length") ?? 0);
  if (declared > MAX_TRACE_BYTES) {
    await discardBody(res);
    throw new Error(`${declared} bytes is too large for a boot trace`);
  }
  try {
    return JSON.parse(await res.text());
  } catch (e) {
    throw new Error(`not JSON: ${message(e)}`);
  }
}

/** A strong ETag, or undefined (weak validators say nothing about byte ranges). */
export function strongEtag(v: string | null): string | undefined {
  return v && !v.startsWith("W/") ? v : undefined;
}

/**
 * Whether an answer is a web page rather than the file asked for: its type says so, or its first
 * bytes start like HTML (a dev server answers unknown paths with its index page, status 200).
 */
export function isWebPage(type: string | null, start?: Uint8Array): boolean {
  if (/^\s*(text\/html|application\/xhtml)/i.test(type ?? "")) return true;
  if (!start) return false;
  const head = new TextDecoder("latin1").decode(start.subarray(0, 64)).trimStart().toLowerCase();
  return head.startsWith("<!doctype") || head.startsWith("<html");
}
