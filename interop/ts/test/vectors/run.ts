/**
 * The vector suite: loads EVERY file of vectors/v1, runs every test of it against the TypeScript
 * implementation, prints a table per area (passed / failed / not applicable) with the not-applicable groups
 * and their reasons, and exits non-zero on any failure or on a file without a runner.
 *
 * Usage: node dist/test/vectors/run.js [-v]   (-v lists every failure in full)
 */
import { prepareAsyncAreas } from './areas.js';
import { runVectorSuite, formatReport } from './suite.js';

// `node --test dist/test/` loads every file under dist/test; the suite runs there through vectors.test.js,
// so this script only runs when it is invoked directly (npm run vectors).
if (!process.env.NODE_TEST_CONTEXT) {
  const verbose = process.argv.includes('-v');
  await prepareAsyncAreas();
  const report = runVectorSuite();
  process.stdout.write(formatReport(report, verbose));
  process.exitCode = report.ok ? 0 : 1;
}
