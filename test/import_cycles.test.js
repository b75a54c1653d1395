'use strict';
// lib/ has no import cycle (issue #15): a cycle works only while the compiler emits requires in a lucky order, and
// a module that imports the package root (index.ts) closes one at once. Type-only imports count too: they become
// cycles the day someone imports a value along the same edge.
const fs = require('node:fs');
const path = require('node:path');

const LIB = path.join(__dirname, '..', 'lib');

/** The lib/ modules each lib/ module imports (static, dynamic, require, re-export; type-only included). */
function importGraph(dir) {
  const graph = new Map();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))) {
    const source = fs.readFileSync(path.join(dir, file), 'utf8');
    const targets = new Set();
    const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.\/[\w.-]+)['"]/gm;
    for (const [, spec] of source.matchAll(specifier)) targets.add(`${spec.slice(2).replace(/\.(js|ts)$/, '')}.ts`);
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
    expect(cyclesOf(importGraph(LIB))).toEqual([]);
  });

  test('the checker sees a cycle, through a type-only or a lazy import too', () => {
    const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'mp-cycles-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.ts'), "import type { B } from './b';\nexport const a = 1;\n");
      fs.writeFileSync(path.join(dir, 'b.ts'), "export type B = number;\nconst lazy = () => require('./a');\n");
      expect(cyclesOf(importGraph(dir))).toEqual(['a.ts -> b.ts -> a.ts']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
