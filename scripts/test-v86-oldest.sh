#!/usr/bin/env bash
# The Node guest test of another v86 release (e2e/node/v86-release.test.ts) on the oldest v86 of the
# peer range (package.json peerDependencies.v86, ">=X.Y.Z ..."), installed once into .cache/v86-oldest
# (again when the range's floor moves). About a minute; arguments go to vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
oldest=$(node -p 'require("./package.json").peerDependencies.v86.match(/>=\s*(\d+\.\d+\.\d+)/)[1]')
dir=.cache/v86-oldest
have=$(node -p "try { require('./$dir/node_modules/v86/package.json').version.split('+')[0] } catch { '' }")
if [ "$have" != "$oldest" ]; then
  rm -rf "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --ignore-scripts "v86@$oldest"
fi
V86_E2E_V86="$dir/node_modules/v86" exec npx vitest run --config e2e/node/vitest.config.ts e2e/node/v86-release.test.ts "$@"
