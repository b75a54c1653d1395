#!/usr/bin/env bash
# Builds the addon with macOS's code paths compiled on this machine (MULTIPROC_EMULATE_DARWIN: waits poll with
# sem_trywait and a growing sleep instead of sem_timedwait, no sem_getvalue, no glibc shared-words fast path) into
# build-darwin-emulated/, beside the normal build, and runs jest against it. Extra arguments go to jest
# (.ci/run passes --json --outputFile=...).
#
# node-gyp always builds into build/ under the directory it runs in, so it runs in build-darwin-emulated/, whose
# binding.gyp only includes ours: gyp rebases the included source paths, and binding.gyp stays the one list.
set -euo pipefail
cd "$(dirname "$0")/.."

out=build-darwin-emulated
mkdir -p "$out"
echo '{"includes": ["../binding.gyp"]}' >"$out/binding.gyp"
MULTIPROC_EMULATE_DARWIN=1 npx node-gyp rebuild --directory "$out" >"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }

binary="$PWD/$out/build/Release/multiproc.node"
# The binary must really be the emulated one: a test run against the normal build would prove nothing.
MULTIPROC_NATIVE_BINARY="$binary" node -e '
  const { features } = require("./dist/native").native;
  if (features.semGetValue || features.semTimedWait) throw new Error(`not the macOS emulation: ${JSON.stringify(features)}`);
'
MULTIPROC_NATIVE_BINARY="$binary" node node_modules/jest/bin/jest.js "$@"
