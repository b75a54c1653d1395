// Tests are plain CommonJS run against the built package (dist/), untransformed, so that functions defined in
// test fixtures have the same source text in the test process and in the child processes that load them.
'use strict';
module.exports = {
  testEnvironment: 'node',
  transform: {},
  testMatch: ['<rootDir>/test/**/*.test.js'],
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/redis_skip_reporter.js', '<rootDir>/test/cpython/tally_reporter.js'],
};
