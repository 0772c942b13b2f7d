/** The inventory's store contract on a real redis-server: two connections stand for two replicas. */
import { beforeEach } from 'vitest';
import { inventoryContract } from '../../helpers/inventory-contract.js';
import { redisPerFile } from '../../helpers/redis-per-file.js';

const redis = redisPerFile();
beforeEach(async () => { await redis.server.command('FLUSHALL'); });

inventoryContract('redis', () => redis.connect());
