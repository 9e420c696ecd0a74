#!/usr/bin/env bash
# The package as a stranger gets it: build it, pack it, lint the tarball (publint, and attw for
# the types), install the tarball into a copy of examples/consumer (whose package.json depends on
# the tarball alone, never on the sources), type-check and build that project with vite, run its
# Playwright tests in Debian's Chromium against the built page, and its Node examples. A file the
# package lacks fails here. The guest image and BIOS come from the repository's build outputs
# (scripts/setup.sh) through V86NVME_IMAGE, V86NVME_BIOS and V86NVME_VGABIOS.
# The guest kit (guest-kit/, package v86-nvme-guest) goes the same way: built (npm run build:kit,
# skipped when up to date), packed, linted, installed from its tarball beside v86-nvme; the Node
# examples resume its guest with bootGuest() and no options (node-boot.mjs runs commands,
# node-lab.mjs moves a file in and out, injects a fault and reads the screen), and a vite build of
# a page that imports its URLs must emit its files.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export V86NVME_IMAGE=${V86NVME_IMAGE:-$ROOT/public/guest/disk.img}
export V86NVME_BIOS=${V86NVME_BIOS:-$ROOT/public/bios/bios-256k.bin}
export V86NVME_VGABIOS=${V86NVME_VGABIOS:-$ROOT/public/bios/vgabios-stdvga.bin}
for f in "$V86NVME_IMAGE" "$V86NVME_BIOS" "$V86NVME_VGABIOS"; do
  [ -f "$f" ] || { echo "test-package: $f is missing (run scripts/setup.sh)" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/v86-nvme-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$SECONDS
step() { echo; echo "test-package: [$((SECONDS - start)) s] $*"; }

# --built: `npm test` has just built dist/ for the browser tests.
if [ "${1:-}" != "--built" ]; then
  step "build"
  npm run build
fi

step "pack"
TARBALL="$WORK/$(npm pack --pack-destination "$WORK" --silent | tail -n 1)"
tar -tzf "$TARBALL" | sort
echo "$(du -k "$TARBALL" | cut -f1) KiB packed"

step "build the guest kit (skipped when up to date) and pack it"
npx tsx scripts/build-kit.ts
KIT_TARBALL="$WORK/$(npm pack -w guest-kit --pack-destination "$WORK" --silent | tail -n 1)"
tar -tzvf "$KIT_TARBALL" | awk '{ print $3, $6 }' | sort -k2
echo "$(du -k "$KIT_TARBALL" | cut -f1) KiB packed"

step "publint, and attw (an ES-module-only package: CommonJS require() is out of scope)"
TARBALL=$TARBALL npm run lint:tarball
step "publint and attw: the guest kit"
TARBALL=$KIT_TARBALL npm run lint:tarball

step "install the tarball into the example project"
cp -R examples/consumer "$WORK/consumer"
cd "$WORK/consumer"
rm -rf node_modules dist public test-results playwright-report package-lock.json
cp "$TARBALL" v86-nvme.tgz
cp "$KIT_TARBALL" v86-nvme-guest.tgz
npm install --no-audit --no-fund
# What the page serves beside itself: the BIOS and the disk image (not part of the package).
mkdir -p public/bios public/guest
ln -s "$V86NVME_BIOS" public/bios/bios-256k.bin
ln -s "$V86NVME_VGABIOS" public/bios/vgabios-stdvga.bin
ln -s "$V86NVME_IMAGE" public/guest/disk.img

step "type-check and build the example with vite"
npm run build

step "the example's Node boot: the guest kit's guest resumed by bootGuest() with no options"
node node-boot.mjs

step "the example's Node lab: a file in and out, an injected media error and the trace, the screen"
node node-lab.mjs

step "a vite build of a page importing the guest kit's URLs emits its files"
mkdir -p kit-page
printf '<!doctype html><script type="module" src="./main.js"></script>\n' >kit-page/index.html
printf 'import { urls, manifest } from "v86-nvme-guest";\nconsole.log(manifest.image.id, String(urls.image), String(urls.state), String(urls.bios));\n' >kit-page/main.js
npx vite build kit-page --outDir "$WORK/kit-page-dist" --emptyOutDir --logLevel warn
for f in disk disk.img.state bios-256k vgabios-stdvga; do
  ls "$WORK"/kit-page-dist/assets/"$f"-*.* >/dev/null || { echo "test-package: the kit's $f is not in vite's output" >&2; exit 1; }
done
grep -q 'assets/disk-[^"`]*\.img' "$WORK"/kit-page-dist/assets/*.js || { echo "test-package: the built page does not point at the kit's image" >&2; exit 1; }
rm -rf "$WORK/kit-page-dist"

step "the example's Playwright tests (Chromium)"
PORT=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
# The fixture's guest is the kit's (no image option): every worker resumes its state, none boots.
PORT=$PORT env -u V86NVME_IMAGE -u V86NVME_BIOS -u V86NVME_VGABIOS npx playwright test
# tests/fixture/lab.spec.ts fails one test on purpose: its report must carry the command trace.
node check-trace-report.mjs playwright-report/report.json

step "done"
