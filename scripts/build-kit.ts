// Builds the guest kit (the package v86-nvme-guest in guest-kit/) from the default guest's build
// outputs (scripts/build-guest.sh, scripts/trace-boot.ts):
//   guest-kit/files/{disk.img, bios-256k.bin, vgabios-stdvga.bin}
//                                          hard links to public/ (copies across file systems)
//   guest-kit/files/disk.img.boot-trace.json  the image's boot trace without the image's
//                                          modification time (npm and bundlers do not keep it)
//   guest-kit/files/disk.img.state.zst     the guest at its shell prompt (npm run make:state)
//   guest-kit/files/manifest.{json,js}     image identity, RAM, controller configuration, v86
//                                          version, state format, files' sizes and sha256
//   guest-kit/licenses/<package>.copyright Debian's copyright file of every package with files
//                                          in the image or the BIOS
//   guest-kit/LICENSES.md, SOURCES.md      which licence covers what; each Debian source
//                                          package and version, and how to get it
// Each step is skipped when its outputs are up to date; --force redoes them all.
//
//   npm run build:kit [-- --force]

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decodeStateFile, imageIdentity, STATE_FILE_FORMAT, StateFileError } from "../src/index.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KIT = join(ROOT, "guest-kit");
const FILES = join(KIT, "files");
const LICENSES = join(KIT, "licenses");
const DEBS = join(ROOT, ".cache/guest-debs");
const GUEST_MANIFEST = join(ROOT, "public/guest/manifest.json");
const FORCE = process.argv.includes("--force");

/** What the kit ships from public/: [source in the repository, name in files/]. */
const INPUTS = [
  ["public/guest/disk.img", "disk.img"],
  ["public/bios/bios-256k.bin", "bios-256k.bin"],
  ["public/bios/vgabios-stdvga.bin", "vgabios-stdvga.bin"],
  ["public/guest/disk.img.boot-trace.json", "disk.img.boot-trace.json"],
] as const;
const STATE = join(FILES, "disk.img.state.zst");

const t0 = performance.now();
const log = (msg: string): void => void process.stderr.write(`build-kit: ${msg}\n`);
function die(msg: string): never {
  process.stderr.write(`build-kit: ERROR: ${msg}\n`);
  process.exit(1);
}
const run = (cmd: string, args: string[], input?: string): string =>
  execFileSync(cmd, args, { encoding: "utf8", maxBuffer: 256 << 20, input, stdio: ["pipe", "pipe", "pipe"] });
const sha256 = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");
/** Writes a file only when its content changes (mtimes stay put otherwise). */
function writeIfChanged(path: string, text: string): boolean {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return false;
  writeFileSync(path, text);
  return true;
}

// One build at a time: setup.sh runs this before every `npm start` and `npm test`, and two runs
// making the state at once would leave a manifest describing the other's state.
const LOCK = join(FILES, ".build-kit.lock");
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === "EPERM";
  }
}
mkdirSync(FILES, { recursive: true });
for (let said = false; ; ) {
  try {
    writeFileSync(LOCK, String(process.pid), { flag: "wx" });
    break;
  } catch (e) {
    if ((e as { code?: string }).code !== "EEXIST") throw e;
  }
  const pid = Number(existsSync(LOCK) ? readFileSync(LOCK, "utf8") : "");
  if (pid > 0 && !alive(pid)) {
    rmSync(LOCK, { force: true });
    continue;
  }
  if (!said) log(`waiting for the build-kit run of process ${pid || "?"} to finish`);
  said = true;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}
process.on("exit", () => rmSync(LOCK, { force: true }));

// ------------------------------------------------------------------ files
for (const [src] of INPUTS) {
  if (!existsSync(join(ROOT, src))) die(`${src} is missing: run scripts/setup.sh (scripts/build-guest.sh and the boot trace) first`);
}
for (const [src, name] of INPUTS) {
  const from = join(ROOT, src);
  if (name.endsWith(".boot-trace.json")) {
    // A trace names its image's size, sha256 and Last-Modified; an HTTP disk refuses it when the
    // server's Last-Modified differs, and the kit's files get new times wherever they are
    // installed or bundled. The size (and the sha256, informative) stay.
    const trace = JSON.parse(readFileSync(from, "utf8")) as { image?: Record<string, unknown> };
    if (trace.image) {
      delete trace.image.lastModified;
      delete trace.image.etag;
    }
    if (writeIfChanged(join(FILES, name), `${JSON.stringify(trace)}\n`)) log(`files/${name} from ${src}`);
    continue;
  }
  const to = join(FILES, name);
  const a = statSync(from);
  if (existsSync(to)) {
    const b = statSync(to);
    if (!FORCE && ((a.ino === b.ino && a.dev === b.dev) || (a.size === b.size && a.mtimeMs === b.mtimeMs))) continue;
    rmSync(to);
  }
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
    utimesSync(to, a.atime, a.mtime);
  }
  log(`files/${name} from ${src}`);
}
const imagePath = join(FILES, "disk.img");
const v86Version = (createRequire(import.meta.url)("v86/package.json") as { version: string }).version;
const guestManifest = JSON.parse(readFileSync(GUEST_MANIFEST, "utf8")) as {
  inputs: string;
  files: Record<string, { size: number; sha256: string }>;
  packages: Record<string, unknown>;
  disk: Record<string, unknown>;
};
// The licences are redone when the image changes, or LICENCES_VERSION (change it with the way
// they are collected).
const LICENCES_VERSION = 1;
const stampPath = join(FILES, "licenses.stamp");
const stamp = `${guestManifest.inputs} ${guestManifest.files["guest/disk.img"]?.sha256} ${LICENCES_VERSION}\n`;
const licencesDone = (): boolean => !FORCE && existsSync(stampPath) && readFileSync(stampPath, "utf8") === stamp && existsSync(join(KIT, "SOURCES.md")) && existsSync(LICENSES);

// Up to date: the manifest is newer than every file it describes and names this v86 and format
// (a second, without reading the image or the state).
{
  const mpath = join(FILES, "manifest.json");
  const m = existsSync(mpath) && existsSync(join(FILES, "manifest.js")) && existsSync(STATE) ? (JSON.parse(readFileSync(mpath, "utf8")) as { v86Version?: string; stateFormat?: number; image?: { sha256?: string }; files?: { state?: { bytes?: number } } }) : undefined;
  const newest = Math.max(...[...INPUTS.map(([, n]) => join(FILES, n)), STATE, GUEST_MANIFEST].map((p) => (existsSync(p) ? statSync(p).mtimeMs : Infinity)));
  if (!FORCE && m && statSync(mpath).mtimeMs >= newest && m.v86Version === v86Version && m.stateFormat === STATE_FILE_FORMAT && m.image?.sha256 === guestManifest.files["guest/disk.img"]?.sha256 && m.files?.state?.bytes === statSync(STATE).size && licencesDone()) {
    log("guest-kit/ is up to date (--force rebuilds it)");
    process.exit(0);
  }
}

const image = readFileSync(imagePath);
const imageBytes = new Uint8Array(image.buffer, image.byteOffset, image.byteLength);
const imageId = imageIdentity(imageBytes);

// ------------------------------------------------------------------ state
/** Why the kit's state must be made again ("" when it is up to date). */
function stateStale(): string {
  if (FORCE) return "--force";
  if (!existsSync(STATE)) return "there is none";
  const mtime = statSync(STATE).mtimeMs;
  for (const name of ["disk.img", "bios-256k.bin", "vgabios-stdvga.bin"]) {
    if (statSync(join(FILES, name)).mtimeMs > mtime) return `${name} is newer`;
  }
  try {
    const { info } = decodeStateFile(readFileSync(STATE));
    if (info.identity.imageId !== imageId || info.identity.imageBytes !== imageBytes.byteLength) return "it was made of another image";
    if (info.v86Version !== v86Version) return `it was made by v86 ${info.v86Version}, v86 ${v86Version} is installed`;
  } catch (e) {
    if (e instanceof StateFileError) return `it cannot be resumed: ${e.message}`;
    throw e;
  }
  return "";
}
const why = stateStale();
if (why) {
  log(`making the state (${why}): npm run make:state -- --image guest-kit/files/disk.img`);
  const r = spawnSync("npm", ["run", "--silent", "make:state", "--", "--image", imagePath, "--out", STATE], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) die(`make:state failed (exit ${r.status ?? r.signal})`);
}
const stateBytes = readFileSync(STATE);
const { info: state } = decodeStateFile(stateBytes);
if (state.identity.imageId !== imageId) die(`the state's image id ${state.identity.imageId} is not the image's ${imageId}`);

// --------------------------------------------------------------- manifest
const fileEntry = (name: string): { file: string; bytes: number; sha256: string } => {
  const p = join(FILES, name);
  return { file: name, bytes: statSync(p).size, sha256: name === "disk.img.state.zst" ? createHash("sha256").update(stateBytes).digest("hex") : sha256(p) };
};
const imageEntry = fileEntry("disk.img");
const manifest = {
  name: "v86-nvme-guest",
  image: { id: imageId, ...imageEntry },
  memory: state.identity.memory,
  nvme: state.identity.nvme,
  v86Version: state.v86Version,
  stateFormat: state.format,
  prompt: state.prompt,
  files: {
    bios: fileEntry("bios-256k.bin"),
    vgaBios: fileEntry("vgabios-stdvga.bin"),
    bootTrace: fileEntry("disk.img.boot-trace.json"),
    state: { ...fileEntry("disk.img.state.zst"), createdAt: state.createdAt },
  },
  disk: guestManifest.disk,
  packages: guestManifest.packages,
};
if (manifest.stateFormat !== STATE_FILE_FORMAT) die(`state format ${manifest.stateFormat}, this v86-nvme writes ${STATE_FILE_FORMAT}`);
const manifestJson = `${JSON.stringify(manifest, null, 2)}\n`;
writeFileSync(join(FILES, "manifest.json"), manifestJson); // always: its time says when the kit was checked
writeIfChanged(
  join(FILES, "manifest.js"),
  `// Generated by scripts/build-kit.ts: the kit's files/manifest.json as a module.\nexport const manifest = ${manifestJson.trimEnd()};\n`,
);

// ------------------------------------------------------- licences, sources
interface Deb {
  path: string;
  package: string;
  version: string;
  source: string;
  sourceVersion: string;
}
function debInfo(path: string): Deb {
  const f = run("dpkg-deb", ["-f", path, "Package", "Version", "Source"]);
  const field = (n: string): string => (new RegExp(`^${n}: (.*)$`, "m").exec(f)?.[1] ?? "").trim();
  const pkg = field("Package");
  const version = field("Version");
  const m = /^(\S+)(?: \((.+)\))?$/.exec(field("Source"));
  return { path, package: pkg, version, source: m?.[1] ?? pkg, sourceVersion: m?.[2] ?? version };
}
/** The newest cached .deb of each package (build-guest.sh downloads the candidate once). */
function cachedDebs(): Map<string, Deb> {
  const out = new Map<string, Deb>();
  for (const name of readdirSync(DEBS).filter((n) => n.endsWith(".deb")).sort()) {
    const d = debInfo(join(DEBS, name));
    const had = out.get(d.package);
    if (had && spawnSync("dpkg", ["--compare-versions", had.version, "gt", d.version]).status === 0) continue;
    out.set(d.package, d);
  }
  return out;
}

/** Every file and symlink of the image's ext4 root (debugfs, no mount). */
function rootFiles(): Set<string> {
  const disk = guestManifest.disk as { root: { startSector: number } };
  const dev = `${imagePath}?offset=${disk.root.startSector * 512}`;
  const files = new Set<string>();
  let dirs = ["/"];
  while (dirs.length > 0) {
    const out = run("debugfs", ["-f", "-", dev], dirs.map((d) => `ls -p ${d}\n`).join(""));
    const next: string[] = [];
    let cwd = "";
    for (const line of out.split("\n")) {
      const cmd = /^debugfs: ls -p (.*)$/.exec(line);
      if (cmd) {
        cwd = cmd[1].replace(/\/$/, "");
        continue;
      }
      const e = /^\/\d+\/(\d+)\/\d+\/\d+\/([^/]+)\//.exec(line);
      if (!e || e[2] === "." || e[2] === ".." || e[2] === "lost+found") continue;
      const path = `${cwd}/${e[2]}`;
      if (e[1].startsWith("04")) next.push(path);
      else files.add(path.slice(1));
    }
    dirs = next;
  }
  return files;
}

/** The packages of cached .debs with a file at a path the image's root file system has. */
function packagesInRoot(debs: Map<string, Deb>): Deb[] {
  const files = rootFiles();
  const hits: Deb[] = [];
  for (const d of debs.values()) {
    const paths = run("sh", ["-c", 'dpkg-deb --fsys-tarfile "$1" | tar -t', "sh", d.path]).split("\n");
    if (paths.some((p) => !p.endsWith("/") && files.has(p.replace(/^\.\//, "")))) hits.push(d);
  }
  return hits;
}

/** Debian's copyright file of a package: from its .deb, or the package its doc directory links to. */
function copyright(d: Deb, debs: Map<string, Deb>): { text: string; from: string } {
  const doc = `./usr/share/doc/${d.package}`;
  const link = run("dpkg-deb", ["-c", d.path])
    .split("\n")
    .map((l) => l.split(/\s+/).slice(5))
    .find((f) => f[0] === doc && f[1] === "->")?.[2];
  if (!link) {
    const text = run("sh", ["-c", 'dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/share/doc/$2/copyright"', "sh", d.path, d.package]);
    return { text, from: d.package };
  }
  const target = link.replace(/\/$/, "");
  const other = debs.get(target);
  if (other) return { text: copyright(other, debs).text, from: target };
  // Not among the guest's packages (gcc-12-base for libgcc-s1 and libstdc++6): the host's copy
  // when it is the same source version, else the .deb downloaded into the cache.
  const host = spawnSync("dpkg-query", ["-W", "-f=${source:Version}", target], { encoding: "utf8" }).stdout;
  const hostFile = `/usr/share/doc/${target}/copyright`;
  if (host === d.sourceVersion && existsSync(hostFile)) return { text: readFileSync(hostFile, "utf8"), from: target };
  log(`downloading ${target} for its copyright file (the doc directory of ${d.package})`);
  execFileSync("apt-get", ["download", "-q", `${target}:i386`], { cwd: DEBS, stdio: ["ignore", "ignore", "inherit"] });
  const got = readdirSync(DEBS).find((n) => n.startsWith(`${target}_`) && n.endsWith(".deb"));
  if (!got) die(`no copyright file for ${d.package} (its doc directory links to ${target})`);
  return { text: copyright(debInfo(join(DEBS, got)), debs).text, from: target };
}

/** Packages installed on the host whose files build-guest.sh writes into the image: syslinux's MBR and loader. */
function hostPackages(): Deb[] {
  return ["syslinux", "syslinux-common"].map((p) => {
    const [version, source, sourceVersion] = run("dpkg-query", ["-W", "-f=${Version}\t${source:Package}\t${source:Version}", p]).split("\t");
    return { path: `/usr/share/doc/${p}/copyright`, package: p, version, source, sourceVersion };
  });
}

if (licencesDone()) {
  log("licences and SOURCES.md up to date");
} else {
  log("collecting the copyright files of the packages in the image and the BIOS");
  const debs = cachedDebs();
  const need = (name: string): Deb => debs.get(name) ?? die(`no cached .deb of ${name} in .cache/guest-debs/ (run scripts/build-guest.sh --force)`);
  const pkgs = guestManifest.packages as { kernel: { package: string }; seabios: string; [k: string]: unknown };
  // The FAT partition: the kernel, and the initramfs of busybox and the kernel's modules; the
  // BIOS: seabios; the root file system: whatever of the rest has a file there.
  const inImage = new Map<string, Deb>();
  for (const d of [need(pkgs.kernel.package), need("busybox-static"), need("seabios"), ...packagesInRoot(debs)]) inImage.set(d.package, d);
  for (const name of ["nvme-cli", "fio"]) if (!inImage.has(name)) die(`${name} has no file in the image's root: is the image built by scripts/build-guest.sh?`);
  const host = hostPackages();
  const all = [...inImage.values(), ...host].sort((a, b) => a.package.localeCompare(b.package));

  rmSync(LICENSES, { recursive: true, force: true });
  mkdirSync(LICENSES, { recursive: true });
  const rows: string[] = [];
  for (const d of all) {
    const c = d.path.endsWith(".deb") ? copyright(d, debs) : { text: readFileSync(d.path, "utf8"), from: d.package };
    writeFileSync(join(LICENSES, `${d.package}.copyright`), c.text);
    const where = d.package === "seabios" ? "files/bios-256k.bin, files/vgabios-stdvga.bin" : host.includes(d) ? "disk.img: MBR and boot loader" : d.package === need(pkgs.kernel.package).package ? "disk.img: kernel and modules" : d.package === "busybox-static" ? "disk.img: shell and tools (root and initramfs)" : "disk.img: root file system";
    rows.push(`| ${d.package} | ${d.version} | ${where} | [licenses/${d.package}.copyright](licenses/${d.package}.copyright)${c.from === d.package ? "" : ` (Debian's file of ${c.from})`} |`);
  }
  writeIfChanged(
    join(KIT, "LICENSES.md"),
    `# Licences of v86-nvme-guest

Generated by scripts/build-kit.ts. The kit's files are built from Debian 12 (bookworm) packages
and keep their licences:

- **Linux** (the kernel and its modules), **BusyBox**, **nvme-cli**, **fio**, **SYSLINUX**:
  GPL-2.0 (the kernel: GPL-2.0-only; see each copyright file for the exact terms).
- **SeaBIOS** (bios-256k.bin) and its VGA BIOS (vgabios-stdvga.bin): LGPL-3.0.
- The shared libraries nvme-cli and fio load (glibc, OpenSSL, zlib, ...): each under its own
  licence, given in its copyright file below.
- The package's own modules (index.js, node.js and their types) and the generated manifest:
  MIT, as v86-nvme.

The source code of every package is available from Debian: see [SOURCES.md](SOURCES.md).

| Debian package | Version | In | Copyright and licence |
|---|---|---|---|
${rows.join("\n")}
`,
  );

  // Sources: one row per Debian source package and version.
  const sources = new Map<string, Set<string>>();
  const add = (src: string, ver: string, bin: string): void => {
    const k = `${src}=${ver}`;
    if (!sources.has(k)) sources.set(k, new Set());
    sources.get(k)?.add(bin);
  };
  for (const d of all) {
    add(d.source, d.sourceVersion, d.package);
    // The signed kernel's source package carries the signatures; the code is Debian's linux.
    if (d.source.startsWith("linux-signed-")) add("linux", d.version, d.package);
  }
  const srcRows = [...sources.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, bins]) => {
      const [name, ver] = k.split("=");
      return `| ${name} | ${ver} | ${[...bins].sort().join(", ")} | \`apt-get source ${name}=${ver}\` |`;
    });
  writeIfChanged(
    join(KIT, "SOURCES.md"),
    `# Sources of v86-nvme-guest

Generated by scripts/build-kit.ts. Every binary in the kit comes unmodified from a Debian 12
(bookworm) package (i386 for the guest, all for SeaBIOS; the boot loader from the build host's
syslinux). The image is assembled by scripts/build-guest.sh of the v86-nvme repository, which
also builds the only files that are not Debian's: stubs of the libraries of fio's remote
engines (librados, librbd, libgfapi, libnbd, libibverbs, librdmacm; in /usr/lib), which define
what fio imports of them as functions that say so and exit; those engines need a network the
guest does not have.

To get a source package, with \`deb-src\` lines for bookworm (and bookworm-security,
bookworm-updates) in your APT sources:

    apt-get source NAME=VERSION

A version that has since left the archive stays available from Debian's snapshot archive under
the same name and version.

| Source package | Version | Binary packages in the kit | Get it |
|---|---|---|---|
${srcRows.join("\n")}
`,
  );
  writeFileSync(stampPath, stamp);
  log(`${all.length} packages from ${sources.size} source packages: guest-kit/LICENSES.md, guest-kit/SOURCES.md, guest-kit/licenses/`);
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;
log(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s: image ${mb(imageEntry.bytes)} (id ${imageId}), state ${mb(stateBytes.byteLength)} at ${state.identity.memory >> 20} MiB, v86 ${state.v86Version}`);
