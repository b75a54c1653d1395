'use strict';
// The documentation cannot rot (issue #15): every fenced block of README.md and docs/*.md is run or checked, and
// every relative link points at a file and heading that exist.
// - js/cjs blocks run as CommonJS, mjs blocks as ES modules, ts blocks type-check against the shipped declarations
//   and then run as ES modules: each in a child process, against the built package (`require('multiproc')`
//   resolves to this checkout), with the page's directory as cwd. A block passes if it exits 0 and writes nothing
//   on stderr (a child that throws reports there).
// - `<!-- file: name.js -->` before a block makes it a file the page's other blocks load (a worker's module).
// - sh blocks: every `npm run X` names a script of package.json, every `node path.js` a file of the repository.
// - console and text blocks are output or prose, shown as they are.
// - `<!-- no-run: reason -->` before a block keeps it from running; such blocks are counted and listed.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');
const ts = require('typescript');
const { codeBlocks, anchors, relativeLinks, npmScripts } = require('./docs_blocks');

const ROOT = path.join(__dirname, '..');
const RUN_TIMEOUT_MS = 90000;
const SCRIPTS = require('../package.json').scripts;

const DOCS = path.join(ROOT, 'docs');
const pages = ['README.md', ...(fs.existsSync(DOCS) ? fs.readdirSync(DOCS).filter((f) => f.endsWith('.md')).sort()
  .map((f) => `docs/${f}`) : [])];
const blocksOf = new Map(pages.map((page) => [page, codeBlocks(fs.readFileSync(path.join(ROOT, page), 'utf8'))]));
const all = pages.flatMap((page) => blocksOf.get(page).map((block) => ({ page, ...block })));
const where = (b) => `${b.page}:${b.line}`;

const runnable = all.filter((b) => !b.error && ['js', 'cjs', 'mjs', 'ts'].includes(b.lang) && !b.marker);
const noRun = all.filter((b) => b.marker === 'no-run');

let work; // a scratch directory: node_modules/multiproc -> this checkout, one directory per page
const dirOf = (page) => path.join(work, page.replace(/[/.]/g, '_'));
const fileOf = (b) => path.join(dirOf(b.page), `block_${b.line}.${{ js: 'js', cjs: 'cjs', mjs: 'mjs', ts: 'mts' }[b.lang]}`);

beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'multiproc-docs-'));
  fs.mkdirSync(path.join(work, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(work, 'node_modules', 'multiproc'), 'dir');
  for (const page of pages) fs.mkdirSync(dirOf(page));
  for (const b of all.filter((x) => x.marker === 'file' && !x.error)) {
    fs.writeFileSync(path.join(dirOf(b.page), b.file), b.code);
  }
  for (const b of runnable) fs.writeFileSync(fileOf(b), b.code);
});

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
  const list = noRun.map((b) => `  ${where(b)} (${b.lang}): ${b.reason}`).join('\n');
  process.stdout.write(`docs: ${runnable.length} blocks run, ${noRun.length} not run${list ? `:\n${list}` : ''}\n`);
});

/** Runs `file` with node in its directory; resolves { code, signal, stdout, stderr }. */
function runNode(file) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: path.dirname(file), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

describe('the checker itself', () => {
  test('a block without a language tag, or with an unknown one, is refused', () => {
    expect(codeBlocks('```\nx\n```\n')[0].error).toMatch(/language tag/);
    expect(codeBlocks('```python\nx\n```\n')[0].error).toMatch(/unknown language tag "python"/);
  });

  test('a no-run marker needs its reason; a file marker names a module', () => {
    expect(codeBlocks('<!-- no-run: -->\n```js\nx\n```\n')[0].error).toMatch(/reason/);
    const marked = codeBlocks('<!-- no-run: needs two machines -->\n\n```js\nx\n```\n')[0];
    expect(marked).toMatchObject({ marker: 'no-run', reason: 'needs two machines' });
    expect(marked).not.toHaveProperty('error');
    expect(codeBlocks('<!-- file: ../x.js -->\n```js\nx\n```\n')[0].error).toMatch(/file marker/);
    expect(codeBlocks('<!-- file: worker.js -->\n```js\nx\n```\n')[0]).toMatchObject({ marker: 'file', file: 'worker.js' });
  });

  test('anchors follow GitHub: punctuation dropped, spaces to dashes, duplicates numbered', () => {
    const found = anchors('# A `close()` and `using`\n## Worker threads: `forThread()`\n## Limits\n## Limits\n');
    expect([...found]).toEqual(['a-close-and-using', 'worker-threads-forthread', 'limits', 'limits-1']);
  });

  test('links in code are not links; absolute URLs are not checked', () => {
    const text = 'see [a](docs/a.md#x) and `[b](nope.md)` or [c](https://example.com)\n```js\n[d](e.md)\n```\n';
    expect(relativeLinks(text)).toEqual([{ line: 1, target: 'docs/a.md#x' }]);
  });

  test('the npm scripts a shell line names are found', () => {
    expect(npmScripts('npm install\nnpm start   # x\nnpm test\nnpm run bench -- x\nnpm run test:asan')).toEqual(['start', 'test', 'bench', 'test:asan']);
  });
});

describe('every block is well-formed', () => {
  test.each(all.map((b) => [where(b), b]))('%s', (_, b) => {
    expect(b.error).toBeUndefined();
  });
});

describe('sh blocks name what exists', () => {
  const shell = all.filter((b) => b.lang === 'sh' && !b.marker);
  test.each(shell.map((b) => [where(b), b]))('%s', (_, b) => {
    for (const name of npmScripts(b.code)) expect({ script: name, exists: name in SCRIPTS }).toEqual({ script: name, exists: true });
    for (const [, file] of b.code.matchAll(/\bnode\s+(?:--[\w-]+\s+)*([\w./-]+\.m?js)\b/g)) {
      expect({ file, exists: fs.existsSync(path.join(ROOT, file)) }).toEqual({ file, exists: true });
    }
  });
});

describe('relative links point at files and headings that exist', () => {
  test.each(pages)('%s', (page) => {
    const text = fs.readFileSync(path.join(ROOT, page), 'utf8');
    const broken = [];
    for (const { line, target } of relativeLinks(text)) {
      const [file, anchor] = target.split('#');
      const resolved = file ? path.resolve(path.dirname(path.join(ROOT, page)), decodeURIComponent(file)) : path.join(ROOT, page);
      if (!fs.existsSync(resolved)) broken.push(`${page}:${line} ${target}: no such file`);
      else if (anchor !== undefined && !anchors(fs.readFileSync(resolved, 'utf8')).has(anchor)) {
        broken.push(`${page}:${line} ${target}: no such heading`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('ts blocks type-check against the shipped declarations', () => {
  const typed = runnable.filter((b) => b.lang === 'ts');
  (typed.length ? test : test.skip)(`${typed.length} blocks`, () => {
    const program = ts.createProgram(typed.map(fileOf), {
      target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16,
      lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'], types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules', '@types')], strict: true, noEmit: true, skipLibCheck: true,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const at = d.file ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
      const block = typed.find((b) => d.file && fileOf(b) === d.file.fileName);
      return `${block ? where(block) : ''} ${at}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
  });
});

describe('js, mjs and ts blocks run', () => {
  test.each(runnable.map((b) => [`${where(b)} (${b.lang})`, b]))('%s', async (_, b) => {
    let file = fileOf(b);
    if (b.lang === 'ts') {
      const out = ts.transpileModule(b.code, {
        compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ES2022 }, fileName: file,
      });
      file = file.replace(/\.mts$/, '.mjs');
      fs.writeFileSync(file, out.outputText);
    }
    const result = await runNode(file);
    expect({ code: result.code, signal: result.signal, stderr: result.stderr })
      .toEqual({ code: 0, signal: null, stderr: '' });
  }, RUN_TIMEOUT_MS + 10000);
});
