/**
 * An operator for the admin port's `/admin/` paths (`admin.operatorsFile`, an htpasswd file of scrypt hashes):
 * its file's content and the Authorization header that logs it in.
 */
import { hashPassword } from '../../src/accounts/password.js';
import { basicAuth } from './trackgate.js';

export const OPERATOR = { name: 'ops', password: 'op-secret-1' };
export const operatorAuth = { authorization: basicAuth(OPERATOR.name, OPERATOR.password) };

/** One line for OPERATOR, hashed with cheap scrypt parameters (a test, not a deployment). */
export async function operatorsFileText(): Promise<string> {
  return `${OPERATOR.name}:${await hashPassword(OPERATOR.password, { ln: 10, r: 8, p: 1 })}\n`;
}

/**
 * startGate options for the inventory's readers (the endpoint and the operator page): an operator, the two
 * forms whose clients the tests send, and writes held back until the test flushes.
 */
export async function inventoryGateOptions(): Promise<{ config: Record<string, unknown>; files: Record<string, string> }> {
  return {
    config: {
      admin: { operatorsFile: 'operators.htpasswd' },
      authn: { session_token: { enabled: true }, instance: { enabled: true } },
      inventory: { flushSeconds: 300 },
      logging: { level: 'warn' },
    },
    files: { 'operators.htpasswd': await operatorsFileText() },
  };
}
