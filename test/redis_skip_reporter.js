// A jest reporter that says, after jest's own summary, why the Redis suite was skipped (redis-server missing), so
// that a green `npm test` without Redis does not pass for one that tested it. CI sets MULTIPROC_REQUIRE_REDIS=1,
// which turns the skip into a failing test (test/redis.test.js).
'use strict';

class RedisSkipReporter {
  onRunComplete(_contexts, results) {
    for (const file of results.testResults) {
      for (const t of file.testResults) {
        if (t.status === 'pending' && t.title.startsWith('Redis suite skipped')) process.stderr.write(`\n${t.title}\n`);
      }
    }
  }
}

module.exports = RedisSkipReporter;
