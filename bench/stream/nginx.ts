// Debian's nginx serving a directory on 127.0.0.1, for the benchmarks that read images over HTTP:
// Range requests, ETags and keep-alive are nginx's own. It runs in the foreground of a child
// process with a generated config in a temporary directory (no system service, nothing outside
// that directory written), and is installed with apt-get when missing (as root).
//
//   const server = await startNginx("public/guest");   // server.url ends in "/"
//   ... fetch(server.url + "disk.img", { headers: { Range: "bytes=0-511" } }) ...
//   server.requests()                                  // the access log so far
//   await server.stop();

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { freePort } from "../dev-server.ts";

const NGINX = "/usr/sbin/nginx";

/** One line of the access log. */
export interface NginxRequest {
  /** When nginx finished the answer (ms since the epoch). */
  at: number;
  method: string;
  path: string;
  status: number;
  /** Body bytes sent. */
  bytes: number;
  /** The request's Range header ("" when none). */
  range: string;
}

export interface Nginx {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  readonly port: number;
  /** Every request answered so far, from the access log. */
  requests(): NginxRequest[];
  stop(): Promise<void>;
}

/** Installs Debian's nginx when it is missing (needs root). */
export function ensureNginx(say: (msg: string) => void = () => {}): void {
  if (existsSync(NGINX)) return;
  if (process.getuid?.() !== 0) throw new Error(`${NGINX} is missing: install Debian's nginx (apt-get install nginx) or run as root`);
  say("installing Debian's nginx (apt-get install nginx)");
  // The package's service is not started: the benchmark runs its own instance.
  const apt = "/usr/bin/apt-get";
  execFileSync(apt, ["install", "-y", "-q", "--no-install-recommends", "nginx"], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

/** What a built page needs besides the images (startNginx's `web` option). */
const WEB_TYPES = " text/html html; text/javascript js mjs; text/css css; application/wasm wasm; image/svg+xml svg; application/json map;";
/** State files (v86's and ours) with Content-Encoding: zstd when the browser takes it, as the README suggests. */
const WEB_STATE = `
      location ~ \\.state\\.zst$ {
        add_header Content-Encoding $state_encoding always;
        add_header Vary Accept-Encoding always;
        add_header Access-Control-Allow-Origin * always;
        add_header Cache-Control no-store always;
      }`;
const WEB_STATE_MAP = "\n  map $http_accept_encoding $state_encoding { ~*zstd zstd; default \"\"; }";
const WEB_GZIP = "\n  gzip on;\n  gzip_comp_level 6;\n  gzip_types text/javascript text/css application/wasm image/svg+xml;";

/** Resolves once something accepts TCP connections on the port. */
async function waitListening(port: number, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const why = exited();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), r(true)));
      s.once("error", () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts nginx serving `root` (read-only) on 127.0.0.1:`port` (default: a free one). Answers carry
 * CORS headers so that a page on another local port can read the images and their Content-Range.
 * `web`: it also serves a built page (HTML, scripts, wasm with their MIME types), its text and
 * wasm gzip-compressed as a web server would (images and JSON are sent as they are, state files
 * with Content-Encoding: zstd to a browser that takes it).
 */
export async function startNginx(root: string, o: { port?: number; say?: (msg: string) => void; web?: boolean } = {}): Promise<Nginx> {
  ensureNginx(o.say);
  const dir = mkdtempSync(join(tmpdir(), "v86nvme-nginx-"));
  const port = o.port ?? (await freePort());
  const log = join(dir, "access.log");
  // Tab-separated: msec, method, URI, status, body bytes, Range header.
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  types { application/octet-stream img; application/json json;${o.web ? WEB_TYPES : ""} }
  default_type application/octet-stream;${o.web ? WEB_GZIP + WEB_STATE_MAP : ""}
  log_format bench '$msec\\t$request_method\\t$uri\\t$status\\t$body_bytes_sent\\t$http_range';
  access_log ${log} bench;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  sendfile on;
  keepalive_timeout 120s;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port};
    root ${resolve(root)};
    location / {${o.web ? WEB_STATE : ""}
      add_header Access-Control-Allow-Origin * always;
      add_header Access-Control-Expose-Headers "Content-Range, Content-Length, ETag, Accept-Ranges" always;
      add_header Cache-Control no-store always;
      if ($request_method = OPTIONS) {
        add_header Access-Control-Allow-Origin * always;
        # v86's disk requests also send X-Accept-Encoding: allow what the browser asks for.
        add_header Access-Control-Allow-Headers $http_access_control_request_headers always;
        add_header Access-Control-Allow-Methods "GET, HEAD" always;
        add_header Access-Control-Max-Age 86400 always;
        return 204;
      }
    }
  }
}
`;
  writeFileSync(join(dir, "nginx.conf"), conf);
  const child = spawn(NGINX, ["-p", dir, "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  let exit: string | undefined;
  child.once("exit", (code, signal) => (exit = `nginx exited (${signal ?? code}): ${stderr.trim() || readLog(join(dir, "error.log"))}`));
  const stop = async (): Promise<void> => {
    if (exit === undefined) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGQUIT"); // graceful: finishes what it is sending
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitListening(port, 10_000, () => exit);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    stop,
    requests: () =>
      readLog(log)
        .split("\n")
        .filter(Boolean)
        .map((line) => {
          const [at, method, path, status, bytes, range] = line.split("\t");
          return { at: Number(at) * 1000, method, path, status: Number(status), bytes: Number(bytes), range: range === "-" ? "" : range };
        }),
  };
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
