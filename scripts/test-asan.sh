#!/usr/bin/env bash
# Builds the addon with AddressSanitizer (cmake-js, into build-asan/) and runs the native test subset against it,
# with the frame-decoder fuzz (hostile frames through real pipes reach the addon's read paths) and the shared-memory
# suites (mappings, detached buffers, futex waits through the hub), and children spawned without fork (posix_spawn).
# Passes only when ASan reports nothing. Extra arguments go to jest (.ci/run passes --json --outputFile=...).
#
# Node itself is not built with ASan, so the runtime is preloaded into every process (jest and its children).
# detect_leaks=0: LeakSanitizer would report the allocations Node never frees at exit (its isolate, its heap),
# which no suppression can tell from ours, since every allocation of ours is reached through Node's frames too.
# Everything else ASan checks (overflows, use-after-free, double free, mismatched new/delete) stays on.
set -euo pipefail
cd "$(dirname "$0")/.."

MULTIPROC_SANITIZE=address npx cmake-js build --out build-asan >build-asan.log 2>&1 || { cat build-asan.log; exit 1; }
rm -f build-asan.log

asan_runtime="$(gcc -print-file-name=libasan.so)"
# gcc prints the bare name back when it has no such library.
[ -f "$asan_runtime" ] || { echo "test:asan needs gcc's AddressSanitizer runtime (libasan)" >&2; exit 1; }

reports="$(mktemp -d)"
trap 'rm -rf "$reports"' EXIT
status=0
LD_PRELOAD="$asan_runtime" \
  ASAN_OPTIONS="detect_leaks=0:log_path=$reports/asan:abort_on_error=0" \
  MULTIPROC_NATIVE_BINARY=build-asan/Release/multiproc.node \
  node node_modules/jest/bin/jest.js test/native.test.js test/frame_fuzz.test.js test/shared_memory.test.js test/shareable_list.test.js \
  test/spawn_without_fork.test.js "$@" || status=$?

if compgen -G "$reports/asan*" >/dev/null; then
  cat "$reports"/asan* >&2
  echo "AddressSanitizer reported errors (above)" >&2
  exit 1
fi
exit $status
