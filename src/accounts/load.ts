/** Reading the accounts file: YAML, validated against its schema, deep-frozen. */
import { ConfigError, deepFreeze, formatIssues, readYaml } from '../config/load.js';
import { accountsFileSchema, type AccountsFile } from './schema.js';

export function loadAccounts(file: string): AccountsFile {
  const result = accountsFileSchema.safeParse(readYaml(file));
  if (!result.success) throw new ConfigError(file, formatIssues(result.error));
  return deepFreeze(result.data);
}
