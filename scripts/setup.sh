#!/usr/bin/env bash
# Brings a fresh machine (Debian, Node, root) to the point where `npm start` and `npm test` run:
# Debian's Chromium for the browser tests, npm packages, the hot path's wasm and the guest images.
# Every step is skipped when its result is already there, so running it each time is cheap.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || echo "setup: apt-get update reported errors; trying the install anyway"
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# npm packages: install when missing or older than the lock file.
if [ ! -d node_modules/.bin ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund
fi

npx asc asm/index.ts --config asm/asconfig.json --target release

if [ -f scripts/build-guest.sh ]; then bash scripts/build-guest.sh; fi

# The default image's boot trace (`npm run trace:boot`, one headless boot): the HTTP disk streams
# the ranges it names ahead of the guest. Redone when the image is newer; without it the disk
# simply reads on demand.
trace=public/guest/disk.img.boot-trace.json
if [ -f public/guest/disk.img ] && { [ ! -f "$trace" ] || [ public/guest/disk.img -nt "$trace" ]; }; then
  echo "setup: recording the default image's boot trace"
  npx tsx scripts/trace-boot.ts || echo "setup: recording the boot trace failed; the disk reads on demand without it"
fi

# The guest kit (guest-kit/, the package v86-nvme-guest): the default image, SeaBIOS, the boot
# trace and a state taken at the shell prompt, with the licences and sources of what is in them.
# Its state is made again when the image changes (one cold boot under Node, about a minute).
if [ -f public/guest/disk.img ] && [ -f "$trace" ]; then
  if npx tsx scripts/build-kit.ts; then
    # The demo page serves public/ and resumes the default guest from this state when it matches.
    ln -f guest-kit/files/disk.img.state.zst public/guest/disk.img.state.zst 2>/dev/null ||
      cp -p guest-kit/files/disk.img.state.zst public/guest/disk.img.state.zst
  else
    echo "setup: building the guest kit failed (npm run build:kit says why); the page boots cold and the kit's tests fail" >&2
  fi
fi

# What a resumed guest reads first (the shell, nvme-cli): the page prefetches these ranges after a
# resume as it does the boot trace on a cold boot. Redone when the state is newer.
rtrace=public/guest/disk.img.resume-trace.json
if [ -f public/guest/disk.img.state.zst ] && { [ ! -f "$rtrace" ] || [ public/guest/disk.img.state.zst -nt "$rtrace" ]; }; then
  echo "setup: recording the default state's resume trace"
  npx tsx scripts/trace-resume.ts || echo "setup: recording the resume trace failed; a resumed guest reads on demand"
fi
