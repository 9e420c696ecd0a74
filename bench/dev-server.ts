// Local servers the browser benchmarks start: a free port on 127.0.0.1, and vite's dev server
// (JS API) there serving the project's pages. Without file watching and HMR: other edits to the
// tree during a run must not reload a page under a running guest.

import { createServer as createNetServer } from "node:net";
import { join } from "node:path";
import { createServer, type ViteDevServer } from "vite";
import { ROOT } from "../test/project-guest/image.ts";

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createNetServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? res(a.port) : rej(new Error("no free port"))));
    });
  });
}

/**
 * vite's dev server for the project root on a free 127.0.0.1 port, listening; `base` is its URL.
 * `isolated`: pages are served cross-origin isolated (COOP/COEP), e.g. to measure their memory.
 */
export async function startDevServer(o: { isolated?: boolean } = {}): Promise<{ server: ViteDevServer; base: string }> {
  const port = await freePort();
  const server = await createServer({
    root: ROOT,
    configFile: join(ROOT, "vite.config.ts"),
    logLevel: "warn",
    clearScreen: false,
    server: {
      host: "127.0.0.1", port, strictPort: true, hmr: false, watch: null,
      ...(o.isolated ? { headers: { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } } : {}),
    },
  });
  await server.listen();
  return { server, base: `http://127.0.0.1:${port}` };
}
