// Helpers for bench suites: run a Python workload, run a Node workload in a fresh process, time things.
'use strict';
const { execFile } = require('node:child_process');
const path = require('node:path');

/** Environment for processes whose start is measured: NODE_EXTRA_CA_CERTS adds ~80 ms to every Node start here. */
function cleanEnv() {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

function run(file, argv, label) {
  return new Promise((resolve, reject) => {
    execFile(file, argv, { env: cleanEnv(), maxBuffer: 16 << 20, timeout: 300000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${label} failed: ${err.message}\n${stderr}`));
      const last = stdout.trim().split('\n').pop();
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${label} printed no JSON result: ${stdout}\n${stderr}`));
      }
    });
  });
}

/** Runs `python3 bench/py/<script> <workload> [...args]`; the script prints one JSON value as its last line. */
function python(script, workload, ...argv) {
  return run('python3', [path.join(__dirname, 'py', script), workload, ...argv.map(String)], `python ${script} ${workload}`);
}

/** Runs `node bench/node/<script> <workload> [...args]` in a fresh process (no NODE_EXTRA_CA_CERTS). */
function node(script, workload, ...argv) {
  return run(process.execPath, [path.join(__dirname, 'node', script), workload, ...argv.map(String)], `node ${script} ${workload}`);
}

/**
 * A workload's run function: bench/node/<suite>.js and bench/py/<suite>.py, each given a workload name and
 * arguments, in that order. `pythonWorkload` null: multiproc only (context rows).
 */
function versus(suite, workload, args, pythonWorkload = workload, pythonArgs = args) {
  return async () => ({
    ours: await node(`${suite}.js`, workload, ...args),
    python: pythonWorkload === null ? null : await python(`${suite}.py`, pythonWorkload, ...pythonArgs),
  });
}

module.exports = { python, node, cleanEnv, versus };
