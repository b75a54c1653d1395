#!/usr/bin/env bash
# Cross-compiles the addon for Windows x64 with MinGW-w64 into prebuilds/win32-x64/multiproc.node, from the sources
# and defines binding.gyp lists (os_posix.cc compiles to nothing under _WIN32). Run with `npm run build:win`.
#
# Needs Debian's g++-mingw-w64-x86-64-posix and binutils-mingw-w64-x86-64, the node-api-headers package, and the
# headers of the Node.js running this script (npm's nodedir, else <node prefix>/include/node) for uv.h.
#
# The addon calls into node.exe through import libraries made here: node-api-headers' .def for Node-API, and one
# for the two libuv functions os_win.cc maps errors with (node.exe exports libuv). Both bind to the name node.exe,
# so this binary loads only into a host executable of that name; node-gyp builds on Windows add a delay-load hook
# for other hosts (Electron), and such hosts should build from source. Linked statically (libgcc, libstdc++,
# winpthreads), the addon imports only KERNEL32, msvcrt and node.exe.
set -euo pipefail
cd "$(dirname "$0")/.."

cxx=x86_64-w64-mingw32-g++-posix
dlltool=x86_64-w64-mingw32-dlltool
for tool in "$cxx" "$dlltool"; do
  command -v "$tool" >/dev/null ||
    { echo "build:win needs $tool (apt-get install g++-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64)" >&2; exit 1; }
done

out=build-win
mkdir -p "$out" prebuilds/win32-x64

napi_def=node_modules/node-api-headers/def/node_api.def
"$dlltool" -d "$napi_def" -l "$out/node_api.lib" -D node.exe
printf 'LIBRARY node.exe\nEXPORTS\nuv_err_name\nuv_translate_sys_error\n' >"$out/uv.def"
"$dlltool" -d "$out/uv.def" -l "$out/uv.lib" -D node.exe

# binding.gyp is plain JSON: read the sources, defines and warning flags from it, as CMakeLists.txt does.
gyp() { node -p "const t = JSON.parse(require('fs').readFileSync('binding.gyp', 'utf8')).targets[0]; ($1).join(' ')"; }
read -ra sources <<<"$(gyp 't.sources')"
read -ra defines <<<"$(gyp "t.defines.map((d) => '-D' + d)")"
read -ra warnings <<<"$(gyp "t.cflags_cc.filter((f) => f.startsWith('-W'))")"
[ "${MULTIPROC_WERROR:-0}" = 1 ] && warnings+=(-Werror)

node_include="$(node -p "require('path').join(process.env.npm_config_nodedir || require('path').resolve(process.execPath, '../..'), 'include', 'node')")"

"$cxx" -std=c++17 -O2 -shared "${warnings[@]}" "${defines[@]}" \
  -I "$(node -p "require('node-addon-api').include_dir")" -I node_modules/node-api-headers/include -I "$node_include" \
  "${sources[@]}" "$out/node_api.lib" "$out/uv.lib" \
  -static -static-libgcc -static-libstdc++ -s \
  -o prebuilds/win32-x64/multiproc.node
echo "prebuilds/win32-x64/multiproc.node"
