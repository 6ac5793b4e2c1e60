/**
 * The whole vector suite as one node:test test, so that `npm test` fails on any vector failure.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prepareAsyncAreas } from './vectors/areas.js';
import { formatReport, runVectorSuite } from './vectors/suite.js';

test('every client-applicable vector of vectors/v1 passes', async () => {
  await prepareAsyncAreas();
  const r = runVectorSuite();
  assert.ok(r.areas.length >= 13, `only ${r.areas.length} vector files found`);
  assert.ok(r.ok, formatReport(r, true));
});
