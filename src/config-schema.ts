/**
 * The config trackgate loads: the schema of src/config/schema.ts with every registered credential form
 * (`authn.<id>`) and token-endpoint dialect (`issue.<id>`), and the checks the proxy layer owns. Assembled
 * here, at the top, so that config/ depends on nothing of ours while the full type reaches every caller.
 */
import type { z } from 'zod';
import { AUTHENTICATORS } from './authn/registry.js';
import { AUTHN_IDS } from './authn/ids.js';
import { configLoader, type LoadedConfig as Loaded } from './config/load.js';
import { configSchemaOf, moduleShape } from './config/schema.js';
import { DIALECTS } from './issue/registry.js';
import { canonicalPath } from './authn/canonical-path.js';
import { isAddressOrCidr } from './proxy/trusted-proxies.js';
import { unknownKeepHeaders } from './proxy/untrusted-headers.js';

export const configSchema = configSchemaOf(moduleShape(AUTHENTICATORS), moduleShape(DIALECTS), {
  canonicalPath: (path) => canonicalPath(path, false),
  isAddressOrCidr,
  unknownKeepHeaders,
  formIds: AUTHN_IDS,
});

export type Config = z.output<typeof configSchema>;
export type LoadedConfig = Loaded<Config>;

export const { loadConfig, validateConfig } = configLoader(configSchema);
