// The package as users get it: `npm pack` with its prebuild, installed into a fresh project on a PATH without
// compilers, make or Python (a compile attempt would fail), then used from CommonJS, ESM and TypeScript.
// Needs the prebuild for this platform: `npm test` makes it (npm runs the `prebuild` script before `build`).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { incrementFile } = require('./fixtures/targets');
const { tmpDir } = require('./fixtures/tmp');

const root = path.join(__dirname, '..');
const prebuildDir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');

// Anything a node-gyp compile needs; none of it may be reachable during the install.
const BUILD_TOOL = /^(make|gmake|cmake|ninja|python.*)$|(^|-)(cc|c\+\+|gcc|g\+\+|clang|clang\+\+)(-[\d.]+)?$/;

let work;
let toolFreeEnv;

/** A PATH of links to every program on the current PATH except BUILD_TOOL, so npm, node and sh still work. */
function makeToolFreeBin(dir) {
  fs.mkdirSync(dir);
  for (const entry of (process.env.PATH ?? '').split(path.delimiter)) {
    let names;
    try {
      names = fs.readdirSync(entry);
    } catch {
      continue;
    }
    for (const name of names) {
      const link = path.join(dir, name);
      if (BUILD_TOOL.test(name) || fs.existsSync(link)) continue;
      try {
        fs.accessSync(path.join(entry, name), fs.constants.X_OK);
        fs.symlinkSync(path.join(entry, name), link);
      } catch {
        // not an executable file: a user's PATH would not run it either
      }
    }
  }
  return dir;
}

/** The environment of a user's shell: none of npm's per-script variables, no hint at a Python for node-gyp. */
function userEnv(overrides) {
  const keep = new Set(['npm_config_cache', 'npm_config_nodedir', 'npm_config_registry', 'npm_config_userconfig']);
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if ((key.startsWith('npm_') && !keep.has(key)) || key === 'PYTHON' || key === 'MULTIPROC_NATIVE_BINARY') continue;
    env[key] = value;
  }
  return { ...env, ...overrides };
}

function run(command, args, options) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120000, ...options });
  if (result.error) throw result.error;
  return result;
}

function runOk(command, args, options) {
  const result = run(command, args, options);
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}

function packJson(args) {
  const stdout = runOk('npm', ['pack', '--json', '--ignore-scripts', ...args], { cwd: root, env: userEnv({}) });
  return JSON.parse(stdout)[0];
}

// The consumer's smoke test, one body for both module systems; the header brings `fs` and the package's names.
// Each child counts under the Lock (the fixtures' counter), reports through the Queue and sets the Event.
const COUNT_UNDER_LOCK = `
${incrementFile}

function countUnderLock(lock, finished, reports, file, n) {
  incrementFile(lock, file, n);
  reports.putSync(n);
  finished.set();
}
`;
const SMOKE_MAIN = `
async function main() {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mp-smoke-')), 'count');
  fs.writeFileSync(file, '0');
  const lock = new Lock();
  const finished = new Event();
  const reports = new Queue();
  const children = [1, 2].map(() => new Process({ target: countUnderLock, args: [lock, finished, reports, file, 300] }));
  for (const child of children) await child.start();
  for (const child of children) await child.join();
  const result = {
    exitCodes: children.map((child) => child.exitCode),
    count: Number(fs.readFileSync(file, 'utf8')),
    finished: await finished.wait({ timeout: 5000 }),
    reports: [await reports.get({ timeout: 5000 }), await reports.get({ timeout: 5000 })],
  };
  fs.rmSync(path.dirname(file), { recursive: true });
  console.log(JSON.stringify(result));
}
`;
const SMOKE_EXPECTED = { exitCodes: [0, 0], count: 600, finished: true, reports: [300, 300] };

const CONSUMER_FILES = {
  'package.json': JSON.stringify({ name: 'multiproc-consumer', version: '1.0.0', private: true }),
  'targets.cjs': `'use strict';\nconst fs = require('node:fs');\n${COUNT_UNDER_LOCK}\nmodule.exports = { countUnderLock };\n`,
  'targets.mjs': `import fs from 'node:fs';\n${COUNT_UNDER_LOCK}\nexport { countUnderLock };\n`,
  'smoke.cjs': [
    "'use strict';",
    "const fs = require('node:fs');",
    "const os = require('node:os');",
    "const path = require('node:path');",
    "const { Event, Lock, Process, Queue } = require('multiproc');",
    "const { countUnderLock } = require('./targets.cjs');",
    SMOKE_MAIN,
    'main().catch((err) => { console.error(err); process.exit(1); });',
  ].join('\n'),
  'smoke.mjs': [
    "import fs from 'node:fs';",
    "import os from 'node:os';",
    "import path from 'node:path';",
    "import { Event, Lock, Process, Queue } from 'multiproc';",
    "import { countUnderLock } from './targets.mjs';",
    SMOKE_MAIN,
    'await main();',
  ].join('\n'),
  'consumer.ts': `
import { Event, Lock, Process, Queue, RuntimeError, type AcquireOptions } from 'multiproc';
import { countUnderLock } from './targets.cjs';

export async function countOnce(file: string): Promise<number | null> {
  const lock = new Lock();
  const options: AcquireOptions = { timeout: 100 };
  if (await lock.acquire(options)) lock.release();
  const reports = new Queue<number>();
  const child = new Process({ target: countUnderLock, args: [lock, new Event(), reports, file, 1] });
  await child.start();
  const counted: number = await reports.get({ timeout: 1000 });
  await child.join(1000);
  // @ts-expect-error timeouts are numbers of milliseconds
  await lock.acquire({ timeout: '1s' });
  return counted === 1 ? child.exitCode : null;
}

export const refusal: Error = new RuntimeError('Lock objects should only be shared between processes through inheritance');
`,
  'consumer.mts': `
import { Lock, type Guard } from 'multiproc';

export async function guarded(lock: Lock): Promise<Guard> {
  return lock.guard();
}
`,
  'targets.d.cts': 'export declare function countUnderLock(lock: unknown, finished: unknown, reports: unknown, file: string, n: number): void;\n',
};

function smoke(file) {
  const stdout = runOk(process.execPath, [file], { cwd: work.consumer, env: toolFreeEnv });
  return JSON.parse(stdout.trim().split('\n').pop());
}

beforeAll(() => {
  if (!fs.existsSync(prebuildDir) || !fs.readdirSync(prebuildDir).some((f) => f.endsWith('.node'))) {
    throw new Error(`no prebuild in ${prebuildDir}: run \`npm run prebuild\` (\`npm test\` does)`);
  }
  const dir = tmpDir('mp-packaging-');
  work = { dir, consumer: path.join(dir, 'consumer'), tarballs: path.join(dir, 'tarballs') };
  toolFreeEnv = userEnv({ PATH: makeToolFreeBin(path.join(dir, 'bin')) });
  fs.mkdirSync(work.tarballs);
  fs.mkdirSync(work.consumer);
  for (const [name, text] of Object.entries(CONSUMER_FILES)) fs.writeFileSync(path.join(work.consumer, name), text);

  const packed = packJson(['--pack-destination', work.tarballs]);
  work.tarball = path.join(work.tarballs, packed.filename);

  const started = process.hrtime.bigint();
  // --prefer-offline: the dependencies come from npm's cache, filled by the project's own install.
  runOk('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', work.tarball], {
    cwd: work.consumer, env: toolFreeEnv,
  });
  const installSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`packaging: tarball ${(packed.size / 1024).toFixed(1)} kB, ` +
    `install without a compiler ${installSeconds.toFixed(1)} s`);
}, 180000);

afterAll(() => {
  if (work) fs.rmSync(work.dir, { recursive: true, force: true });
});

describe('the npm package', () => {
  test('ships the build, the prebuild and the sources for a fallback compile; no tests, benchmarks or intermediates', () => {
    const files = packJson(['--dry-run']).files.map((file) => file.path).sort();
    const allowed = /^(package\.json|README\.md|LICENSE|binding\.gyp|src-native\/[^/]+\.(cc|h)|dist\/([a-z_]+\/)?[^/]+\.(js|mjs|d\.ts)|prebuilds\/[^/]+\/[^/]+\.node)$/;
    expect(files.filter((file) => !allowed.test(file))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining([
      'binding.gyp', 'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'src-native/binding.cc',
      path.posix.join('prebuilds', path.basename(prebuildDir), fs.readdirSync(prebuildDir).find((f) => f.endsWith('.node'))),
    ]));
  });

  test('no compiler, make or Python is reachable on the install PATH', () => {
    for (const tool of ['cc', 'c++', 'g++', 'make', 'python3']) {
      expect(run('sh', ['-c', `command -v ${tool}`], { env: toolFreeEnv }).status).not.toBe(0);
    }
  });

  test('installs from the tarball without compiling: the prebuild is what loads', () => {
    const installed = path.join(work.consumer, 'node_modules', 'multiproc');
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    const loaded = runOk(process.execPath, ['-p', "require('node-gyp-build').path(require('path').dirname(require.resolve('multiproc/package.json')))"], {
      cwd: work.consumer, env: toolFreeEnv,
    }).trim();
    expect(path.relative(installed, loaded)).toMatch(/^prebuilds\//);
  });

  test('a cross-process Lock, Event and Queue work from CommonJS', () => {
    expect(smoke('smoke.cjs')).toEqual(SMOKE_EXPECTED);
  });

  test('a cross-process Lock, Event and Queue work from ESM', () => {
    expect(smoke('smoke.mjs')).toEqual(SMOKE_EXPECTED);
  });

  test('TypeScript type-checks CommonJS and ESM consumers against the shipped declarations', () => {
    const result = run(process.execPath, [
      tsc, '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'), 'consumer.ts', 'consumer.mts',
    ], { cwd: work.consumer, env: toolFreeEnv });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  test('without a matching prebuild the install script compiles, and fails only for want of a compiler', () => {
    const installed = path.join(work.consumer, 'node_modules', 'multiproc');
    fs.rmSync(path.join(installed, 'prebuilds'), { recursive: true });
    const withoutTools = run('npm', ['rebuild', 'multiproc'], { cwd: work.consumer, env: toolFreeEnv });
    expect(withoutTools.status).not.toBe(0);
    expect(withoutTools.stdout + withoutTools.stderr).toMatch(/gyp ERR!.*(Could not find any Python|make|c\+\+)/);

    runOk('npm', ['rebuild', 'multiproc'], { cwd: work.consumer, env: userEnv({}) });
    expect(fs.existsSync(path.join(installed, 'build', 'Release', 'multiproc.node'))).toBe(true);
    expect(smoke('smoke.cjs')).toEqual(SMOKE_EXPECTED);
  }, 180000);
});
