#!/usr/bin/env node
// Runs every bench/*.bench.js: each measures multiproc and Python's multiprocessing on the same workload in this
// run, several times, and reports medians and the ratio. `node bench/run.js [filter]`, `--runs N`, `--json FILE`.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  if (i < 0) return fallback;
  const [value] = args.splice(i, 2).slice(1);
  return value;
};
const runs = Number(option('--runs', 5));
const jsonOut = option('--json', undefined);
const filter = args[0];

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function fmt(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (value >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

function pythonVersion() {
  try {
    return execFileSync('python3', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return 'python3 not found';
  }
}

async function main() {
  const files = fs.readdirSync(__dirname).filter((f) => f.endsWith('.bench.js') && (!filter || f.includes(filter))).sort();
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const header = `multiproc bench — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${cpu}, ` +
    `Node ${process.version}, ${pythonVersion()}, ${os.platform()} ${os.release()}; median of ${runs} runs`;
  console.log(header);
  if (process.env.NODE_EXTRA_CA_CERTS) {
    console.log('note: NODE_EXTRA_CA_CERTS is set; process-start rows unset it for the processes they start');
  }
  const table = [];
  for (const file of files) {
    const suite = require(path.join(__dirname, file));
    for (const workload of suite.workloads) {
      process.stderr.write(`… ${suite.title}: ${workload.name} `);
      const ours = [];
      const theirs = [];
      for (let i = 0; i < runs; i++) {
        const m = await workload.run();
        ours.push(m.ours);
        if (m.python !== undefined && m.python !== null) theirs.push(m.python);
        process.stderr.write('.');
      }
      process.stderr.write('\n');
      const o = median(ours);
      const p = theirs.length ? median(theirs) : null;
      // ratio > 1 always means multiproc is better: time ratio for "lower is better", rate ratio otherwise
      const ratio = p === null ? null : workload.better === 'lower' ? p / o : o / p;
      table.push({ suite: suite.title, workload: workload.name, unit: workload.unit, multiproc: o, python: p,
        advantage: ratio, goal: workload.goal ?? '', extra: workload.extra?.() ?? '', rival: workload.rival });
    }
  }
  const rows = [['suite', 'workload', 'unit', 'multiproc', 'Python (or the rival named)', 'multiproc advantage', 'goal']];
  for (const r of table) {
    rows.push([r.suite, r.workload + (r.extra ? ` (${r.extra})` : '') + (r.rival ? `, vs ${r.rival}` : ''), r.unit,
      fmt(r.multiproc), fmt(r.python),
      r.advantage === null ? '—' : `${r.advantage.toFixed(2)}×`, r.goal]);
  }
  console.log('\n' + rows.map((r) => `| ${r.join(' | ')} |`).join('\n').replace(/\n/, `\n|${rows[0].map(() => ' --- ').join('|')}|\n`));
  console.log('\n"multiproc advantage" > 1 means multiproc is better (faster, or more per second).');
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ header, table }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
