// Prints the CPython port's tally after jest's summary (README: "Python parity"). Counts the tests of test/cpython/
// by the marker harness.js puts in their titles; a failed test counts as failed whatever its marker.
'use strict';
const path = require('node:path');
const { MARK } = require('./marks');

class CpythonTallyReporter {
  onRunComplete(_contexts, results) {
    const tally = { passed: 0, deviations: 0, notApplicable: 0, pending: 0, failed: 0 };
    let seen = false;
    for (const file of results.testResults) {
      if (!file.testFilePath.split(path.sep).includes('cpython')) continue;
      seen = true;
      for (const t of file.testResults) {
        if (t.status === 'failed') tally.failed++;
        else if (t.title.includes(MARK.deviation)) tally.deviations++;
        else if (t.title.includes(MARK.notApplicable)) tally.notApplicable++;
        else if (t.title.includes(MARK.pending)) tally.pending++;
        else if (t.status === 'passed') tally.passed++;
      }
    }
    if (!seen) return;
    process.stderr.write(`\ncpython port: ${tally.passed} passed, ${tally.deviations} deviations, ${tally.notApplicable} not applicable, `
      + `${tally.pending} pending${tally.failed ? `, ${tally.failed} FAILED` : ''} (CPython's 'threads' type: not applicable, `
      + 'multiproc has no multiprocessing.dummy)\n');
  }
}

module.exports = CpythonTallyReporter;
