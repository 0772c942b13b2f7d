/**
 * `/openapi.json` on the admin port of a real trackgate with every seed's forms enabled: a valid OpenAPI 3.1
 * document (checked by @seriousme/openapi-schema-validator against the official schema) that lists every token
 * endpoint the seeds name and every credential form as a security scheme; every listed operation is answered by
 * trackgate itself (never forwarded), and its errors match the documented error schema; a disabled dialect or
 * form is not listed.
 */
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { startGate, useGate } from '../helpers/gate.js';

const FORMS = { digest: { enabled: true, realm: 'GPS Data Web Service' }, session_token: { enabled: true }, oauth: { enabled: true }, instance: { enabled: true }, bearer: { enabled: true } };
const gate = useGate({ config: { authn: FORMS } });

interface Doc {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, { requestBody?: unknown; security?: Record<string, unknown>[]; responses: Record<string, { content?: { 'application/json': { schema: object } } }> }>>;
  components: { securitySchemes: Record<string, Record<string, string>> };
}

async function document(adminUrl = gate.adminUrl): Promise<Doc> {
  const res = await fetch(`${adminUrl}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/json');
  return await res.json() as Doc;
}

/** The seeds' token endpoints, by path: the methods trackgate serves there. */
const SEED_ENDPOINTS: Record<string, string[]> = {
  '/rest/v2/token': ['get', 'post'], '/rest/v2/logout': ['post'], '/rest/v2/auth-basic': ['get', 'post'], '/rest/v2/auth-digest': ['get', 'post'],
  '/auth/password': ['post'], '/auth/refresh': ['post'], '/auth/login': ['post'], '/auth/masquerade': ['post'],
  '/v1/Auth/Login': ['post'], '/v1/Auth/RefreshToken': ['post'],
  '/1/oauth/token': ['post'], '/1/user/create_anon': ['post'], '/1/user/create': ['post'], '/1/user/delete': ['post'],
  '/oauth/revoke': ['post'], '/oauth/introspect': ['post'],
};

describe('/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    const doc = await document();
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.servers[0]!.url).toBe(gate.url);
  });

  it('lists every token endpoint of the seeds, each method once', async () => {
    const doc = await document();
    expect(Object.fromEntries(Object.entries(doc.paths).map(([p, ops]) => [p, Object.keys(ops).sort()]))).toEqual(SEED_ENDPOINTS);
    expect(doc.paths['/rest/v2/token']!.post!.responses['303']).toBeDefined();
    expect(doc.paths['/auth/masquerade']!.post!.security).toEqual([{ bearer: [] }, { bearer_header_Authentication: [] }]);
  });

  it('has a security scheme for every way an enabled form reads a credential', async () => {
    const schemes = Object.values((await document()).components.securitySchemes);
    const http = schemes.filter((s) => s.type === 'http').map((s) => s.scheme).sort();
    expect(http).toEqual(['basic', 'bearer', 'digest', 'oauth']);
    const apiKeys = schemes.filter((s) => s.type === 'apiKey').map((s) => `${s.in}:${s.name}`).sort();
    expect(apiKeys).toEqual([
      'cookie:token', 'header:Authentication', 'header:DeviceToken', 'header:InstanceId', 'header:InstanceKey', 'header:X-Token',
      'query:_token', 'query:access_token',
    ]);
  });

  it('every operation is served by trackgate, and its errors have the documented shape', async () => {
    const doc = await document();
    const ajv = new Ajv2020.default({ strict: false });
    gate.up.received.length = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const res = await fetch(`${gate.url}${path}`, {
          method: method.toUpperCase(), redirect: 'manual',
          ...(method === 'post' ? { headers: { 'content-type': 'application/json' }, body: '{}' } : {}),
        });
        const text = await res.text();
        expect(res.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
        const schema = op.responses.default!.content!['application/json'].schema;
        expect(ajv.validate(schema, JSON.parse(text)), `${method} ${path}: ${text} ${ajv.errorsText()}`).toBe(true);
      }
    }
    expect(gate.up.received).toHaveLength(0);
  });

  it('success bodies have the documented schemas, rendered by each dialect: real logins validate against them', async () => {
    const doc = await document();
    const ajv = new Ajv2020.default({ strict: false });
    const schemaOf = (path: string) => doc.paths[path]!.post!.responses['200']!.content!['application/json'].schema;
    expect(schemaOf('/v1/Auth/Login')).toMatchObject({
      required: ['Result', 'Status', 'Title', 'Errors'],
      properties: { Result: { properties: { AccessToken: { properties: { Token: { type: 'string' }, ExpiresIn: { type: 'integer' } } } } } },
    });
    const json = { 'content-type': 'application/json' };
    const user = JSON.stringify({ username: 'j.random.user', password: 'j.random.password' });
    const logins: [string, RequestInit][] = [
      ['/v1/Auth/Login', { headers: { ...json, instanceid: 'demo-api-instance', instancekey: 'demo-api-instance-key' }, body: JSON.stringify({ loginFields: { Email: 'admin@example.com' }, password: 'P@ssword' }) }],
      ['/auth/login', { headers: json, body: user }],
      ['/auth/password', { headers: json, body: user }],
    ];
    for (const [path, init] of logins) {
      const res = await fetch(`${gate.url}${path}`, { method: 'POST', ...init });
      expect(res.status, path).toBe(200);
      const body: unknown = await res.json();
      expect(ajv.validate(schemaOf(path), body), `${path}: ${ajv.errorsText()}`).toBe(true);
    }
    const token = doc.paths['/rest/v2/token']!.post!.responses['303'] as unknown as { headers: Record<string, unknown> };
    expect(Object.keys(token.headers)).toEqual(['Location', 'Set-Cookie']);
  });

  it('follows the config: a disabled dialect\'s paths and a disabled form\'s schemes are not listed', async () => {
    const g = await startGate({ config: { issue: { geoloqi: { enabled: false } }, authn: { basic: { enabled: false } } } });
    try {
      const doc = await document(g.adminUrl);
      expect(Object.keys(doc.paths).filter((p) => p.startsWith('/1/'))).toEqual([]);
      expect(Object.keys(doc.paths)).toContain('/auth/login');
      expect(Object.values(doc.components.securitySchemes)).toEqual([]);
    } finally {
      await g.close();
    }
  });
});

describe('/openapi.json for Swagger UI', () => {
  const docs = useGate({ config: { authn: FORMS, admin: { openapiPaths: ['/rest/v2/whoami'] } } });

  it('lists admin.openapiPaths as forwarded GETs open to every scheme, and the telematics login\'s headers as parameters', async () => {
    const doc = await document(docs.adminUrl) as Doc & { paths: Record<string, Record<string, { parameters?: { name: string; in: string; required: boolean }[] }>> };
    const get = doc.paths['/rest/v2/whoami']!.get!;
    expect(get.security!.map((s) => Object.keys(s)[0])).toEqual(Object.keys(doc.components.securitySchemes));
    expect(get.security).toContainEqual({ bearer: [] });
    expect(get.responses['401']!.content!['application/json'].schema).toMatchObject({ properties: { error: {}, message: {} } });
    expect(doc.paths['/v1/Auth/Login']!.post!.parameters).toEqual([
      { name: 'InstanceId', in: 'header', required: true, schema: { type: 'string' } },
      { name: 'InstanceKey', in: 'header', required: true, schema: { type: 'string' } },
    ]);
    const result = await new Validator().validate(doc as unknown as Record<string, unknown>);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('serves Swagger UI at /docs/ from swagger-ui-dist, no inline script', async () => {
    const page = await fetch(`${docs.adminUrl}/docs/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<script src="swagger-ui-bundle.js"></script>');
    expect(html).not.toMatch(/<script>/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const bundle = await fetch(`${docs.adminUrl}/docs/swagger-ui-bundle.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.arrayBuffer()).byteLength).toBeGreaterThan(500_000);
    expect((await fetch(`${docs.adminUrl}/docs/../package.json`)).status).toBe(404);
    expect((await fetch(`${docs.adminUrl}/docs/nope.js`)).status).toBe(404);
  });
});
