import { afterAll, beforeAll } from 'vitest';
import { startRedis, type RedisServer } from '../support/redis.js';
import { crossCheck } from './helpers.js';

/**
 * Every decision test case of decide.test.ts again, each also decided through the snapshot reader, the live
 * reader (Kubernetes API test servers) and the collector's Redis state: the same state gives the same decision
 * whichever path read it.
 */
let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
  crossCheck.redisUrl = redis.url;
});
afterAll(async () => {
  crossCheck.redisUrl = undefined;
  await redis?.stop();
});

await import('./decide.test.js');
