import { crossCheckAllPaths } from './helpers.js';

/**
 * Every decision test case of decide.test.ts again, each also decided through the snapshot reader, the live
 * reader (Kubernetes API test servers) and the collector's Redis state: the same state gives the same decision
 * whichever path read it.
 */
crossCheckAllPaths();

await import('./decide.test.js');
