'use strict';
// lib/ has no import cycle (issue #15): a cycle works only while the compiler emits requires in a lucky order, and
// a module that imports the package root (index.ts) closes one at once. Type-only imports count too: they become
// cycles the day someone imports a value along the same edge.
const fs = require('node:fs');
const path = require('node:path');

const LIB = path.join(__dirname, '..', 'lib');

/**
 * The lib/ modules each lib/ module imports (static, dynamic, require, re-export; type-only included), subfolders
 * too (lib/redis/): keys and targets are paths relative to `dir`, a folder import meaning its index.ts.
 */
function importGraph(dir) {
  const graph = new Map();
  const files = fs.readdirSync(dir, { recursive: true }).map((f) => f.split(path.sep).join('/'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
  const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.\.?\/[\w./-]+)['"]/gm;
  for (const file of files) {
    const source = fs.readFileSync(path.join(dir, file), 'utf8');
    const targets = new Set();
    for (const [, spec] of source.matchAll(specifier)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.(js|ts)$/, '');
      targets.add(files.includes(`${target}.ts`) ? `${target}.ts` : `${target}/index.ts`);
    }
    graph.set(file, [...targets]);
  }
  return graph;
}

/** Every cycle as a path `a -> b -> ... -> a` (one per back edge of a depth-first walk). */
function cyclesOf(graph) {
  const cycles = [];
  const state = new Map(); // 1: on the current path, 2: done
  const stack = [];
  const visit = (node) => {
    state.set(node, 1);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 1) cycles.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 2);
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

describe('import-cycle', () => {
  test('no module of lib/ imports the package root', () => {
    const graph = importGraph(LIB);
    const importers = [...graph].filter(([, targets]) => targets.includes('index.ts')).map(([file]) => file);
    expect(importers).toEqual([]);
  });

  test('lib/ has no import cycle', () => {
    const graph = importGraph(LIB);
    expect([...graph.keys()]).toEqual(expect.arrayContaining(['index.ts', 'redis/index.ts', 'redis/locks.ts']));
    const unresolved = [...graph].flatMap(([file, targets]) => targets.filter((t) => !graph.has(t)).map((t) => `${file} -> ${t}`));
    expect(unresolved).toEqual([]); // every import was read as the file it names
    expect(cyclesOf(graph)).toEqual([]);
  });

  test('the checker sees a cycle, through a type-only or a lazy import too, and through subfolders', () => {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'mp-cycles-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.ts'), "import type { B } from './b';\nexport const a = 1;\n");
      fs.writeFileSync(path.join(dir, 'b.ts'), "export type B = number;\nconst lazy = () => require('./a');\n");
      expect(cyclesOf(importGraph(dir))).toEqual(['a.ts -> b.ts -> a.ts']);
      fs.mkdirSync(path.join(dir, 'sub'));
      fs.writeFileSync(path.join(dir, 'b.ts'), "export { c } from './sub';\n");
      fs.writeFileSync(path.join(dir, 'sub', 'index.ts'), "export { c } from './c';\n");
      fs.writeFileSync(path.join(dir, 'sub', 'c.ts'), "import { a } from '../a';\nexport const c = a;\n");
      expect(cyclesOf(importGraph(dir))).toEqual(['a.ts -> b.ts -> sub/index.ts -> sub/c.ts -> a.ts']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
