/** The inventory's store contract on SQLite: two connections to one file stand for two workers. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.js';
import { inventoryContract } from '../helpers/inventory-contract.js';

const root = mkdtempSync(join(tmpdir(), 'trackgate-inventory-'));
let file = '';
let n = 0;
beforeEach(() => { file = join(root, `store-${n++}.sqlite`); });
afterAll(() => rmSync(root, { recursive: true, force: true }));

inventoryContract('sqlite', async () => new SqliteStore(file));
