import { SealFeedError } from '../../src/index.js';

/** Runs fn and returns the name of the alert it throws, or 'ok'; any other error is rethrown. */
export function alertOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SealFeedError) return e.alert;
    throw e;
  }
  return 'ok';
}
