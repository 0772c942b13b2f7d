/** A password hashed in every format the accounts file accepts, at costs a test chooses (cheap by default). */
import { createHash } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { hash as argon2Hash } from '@node-rs/argon2';
import { apr1 } from '../../src/accounts/apr1.js';
import { hashPassword } from '../../src/accounts/password.js';

export type HashFormatName = 'scrypt' | 'bcrypt' | 'apr1' | 'sha1' | 'argon2id';

export interface HashCosts { scryptLn: number; bcrypt: number; argon2MemoryKiB: number; argon2Time: number }

export async function everyHashFormat(password: string, costs: HashCosts = { scryptLn: 10, bcrypt: 4, argon2MemoryKiB: 1024, argon2Time: 1 }): Promise<Record<HashFormatName, string>> {
  return {
    scrypt: await hashPassword(password, { ln: costs.scryptLn, r: 8, p: 1 }),
    bcrypt: bcrypt.hashSync(password, costs.bcrypt),
    apr1: apr1(password, 'Zz09./ab'),
    sha1: `{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`,
    argon2id: await argon2Hash(password, { memoryCost: costs.argon2MemoryKiB, timeCost: costs.argon2Time, parallelism: 1 }),
  };
}
