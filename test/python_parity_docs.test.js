'use strict';
// docs/python-parity.md lists every intended difference the CPython port (test/cpython/) marks, in the same words.
const fs = require('node:fs');
const path = require('node:path');
const { DEVIATIONS } = require('./cpython/deviations');

const flat = (text) => text.replace(/\s+/g, ' ');

test('every deviation of the CPython port is listed under "Differences from Python"', () => {
  const page = flat(fs.readFileSync(path.join(__dirname, '..', 'docs', 'python-parity.md'), 'utf8'));
  const differences = page.slice(page.indexOf('## Differences from Python'));
  const missing = Object.entries(DEVIATIONS).filter(([, reason]) => !differences.includes(flat(reason)));
  expect(missing).toEqual([]);
});
