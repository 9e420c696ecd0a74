#!/usr/bin/env bash
# The package as a stranger gets it: build it, pack it, lint the tarball (publint, and attw for
# the types), install the tarball into a copy of examples/consumer (whose package.json depends on
# the tarball alone, never on the sources), type-check and build that project with vite, run its
# Playwright tests in Debian's Chromium against the built page, and its Node example. A file the
# package lacks fails here. The guest image and BIOS come from the repository's build outputs
# (scripts/setup.sh) through V86NVME_IMAGE, V86NVME_BIOS and V86NVME_VGABIOS.
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

step "publint, and attw (an ES-module-only package: CommonJS require() is out of scope)"
TARBALL=$TARBALL npm run lint:tarball

step "install the tarball into the example project"
cp -R examples/consumer "$WORK/consumer"
cd "$WORK/consumer"
rm -rf node_modules dist public test-results playwright-report package-lock.json
cp "$TARBALL" v86-nvme.tgz
npm install --no-audit --no-fund
# What the page serves beside itself: the BIOS and the disk image (not part of the package).
mkdir -p public/bios public/guest
ln -s "$V86NVME_BIOS" public/bios/bios-256k.bin
ln -s "$V86NVME_VGABIOS" public/bios/vgabios-stdvga.bin
ln -s "$V86NVME_IMAGE" public/guest/disk.img

step "type-check and build the example with vite"
npm run build

step "the example's Playwright tests (Chromium)"
PORT=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
PORT=$PORT npx playwright test

step "the example's Node boot"
node node-boot.mjs

step "done"
