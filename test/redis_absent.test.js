'use strict';
// Without a redis-server (MULTIPROC_REDIS_SERVER naming no executable stands in for a machine without one):
// `npm start -- --redis` says what is missing and fails, and `npm test` says in its summary that the Redis suite
// was skipped and why, unless MULTIPROC_REQUIRE_REDIS=1 (CI) turns the skip into a failure.
const { execFile } = require('node:child_process');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const ABSENT = { ...process.env, MULTIPROC_REDIS_SERVER: path.join(ROOT, 'no-such-redis-server') };
delete ABSENT.MULTIPROC_REQUIRE_REDIS;

function run(args, env) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, env, timeout: 60000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

test('npm start -- --redis without a redis-server: a clear message naming what is missing, exit code 1', async () => {
  const r = await run([path.join(ROOT, 'dist-examples', 'examples', 'main.js'), '--redis'], ABSENT);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('npm start -- --redis needs a redis-server to start: MULTIPROC_REDIS_SERVER=');
  expect(r.stderr).toContain('is not an executable');
});

test("npm test without a redis-server: the summary says the Redis suite was skipped and why; MULTIPROC_REQUIRE_REDIS=1 fails", async () => {
  const jest = [require.resolve('jest/bin/jest'), '--ci', 'test/redis.test.js'];
  const skipped = await run(jest, ABSENT);
  expect(skipped.code).toBe(0);
  expect(skipped.stderr).toMatch(/\nRedis suite skipped: MULTIPROC_REDIS_SERVER=\S+ is not an executable\n/);
  const required = await run(jest, { ...ABSENT, MULTIPROC_REQUIRE_REDIS: '1' });
  expect(required.code).toBe(1);
  expect(required.stderr).toContain('redis-server is installed (MULTIPROC_REQUIRE_REDIS=1)');
  expect(required.stderr).not.toMatch(/^Redis suite skipped/m);
});
