// A real OpenID Connect provider (panva's certified oidc-provider) on loopback, for
// tests/oidc_login.rs. Instead of a login form, the interaction page logs in the
// account named by its `user` query parameter and grants what the client asked for.
//
// Environment:
//   OIDC_PORT          port on 127.0.0.1 (0: any free one)
//   OIDC_REDIRECT_URI  redirect URI registered for both clients
//   OIDC_KEY_FILE      the signing key (an RSA JWK): read if the file exists, else
//                      generated and written there
//   OIDC_KID           key id given to the signing key (default k1)
//   OIDC_CLOCK_SKEW    seconds added to the provider's clock (negative: behind)
//   OIDC_AUTO_USER     account logged in when the interaction page names none (browsers)
//   OIDC_ALG           ID token signature: RS256 (default) or ES256 (a P-256 key)
//   OIDC_CONFORM       1: the ID token holds only the standard claims, the groups are
//                      in userinfo only (oidc-provider's conformIdTokenClaims)
// Prints one line `issuer <URL>` on stdout once it listens.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const skew = Number(process.env.OIDC_CLOCK_SKEW || 0) * 1000;
if (skew) {
  const realNow = Date.now;
  Date.now = () => realNow() + skew;
}

const accounts = {
  alice: { groups: ['staff', 'it-video'] },
  bob: { groups: ['staff', 'amphi:lecturer:cs101'] },
  carol: { groups: ['students'] },
};

const alg = process.env.OIDC_ALG || 'RS256';
if (alg !== 'RS256' && alg !== 'ES256') throw new Error(`OIDC_ALG ${alg}: RS256 or ES256`);

function signingKey(file) {
  if (file && existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const { privateKey } = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const key = privateKey.export({ format: 'jwk' });
  if (file) writeFileSync(file, JSON.stringify(key), { mode: 0o600 });
  return key;
}
const jwk = { ...signingKey(process.env.OIDC_KEY_FILE), kid: process.env.OIDC_KID || 'k1', alg, use: 'sig' };
const redirectUri = process.env.OIDC_REDIRECT_URI;
if (!redirectUri) throw new Error('OIDC_REDIRECT_URI is required');

const server = http.createServer();
await new Promise((resolve) => server.listen(Number(process.env.OIDC_PORT || 0), '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const client = (id) => ({
  client_id: id,
  client_secret: `${id}-secret`,
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: alg,
});

const provider = new Provider(issuer, {
  clients: [client('amphi'), client('other-app')],
  jwks: { keys: [jwk] },
  cookies: { keys: ['amphi-test-provider-cookie-key'] },
  claims: {
    openid: ['sub'],
    profile: ['preferred_username', 'name'],
    email: ['email'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  // The roles claim in the ID token itself (a proxy's usual set-up), or (OIDC_CONFORM)
  // only in userinfo.
  conformIdTokenClaims: process.env.OIDC_CONFORM === '1',
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    if (!accounts[id]) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: `${id}@example.edu`, groups: accounts[id].groups };
      },
    };
  },
});
provider.on('server_error', (ctx, err) => console.error('provider error', err));

const callback = provider.callback();
server.on('request', async (req, res) => {
  const url = new URL(req.url, issuer);
  if (!url.pathname.startsWith('/interaction/')) return callback(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name === 'login') {
      const user = url.searchParams.get('user') || process.env.OIDC_AUTO_USER;
      if (!accounts[user]) {
        res.writeHead(400, { 'content-type': 'text/plain' });
        return res.end(`no test account ${user}\n`);
      }
      return await provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
    }
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    return await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  } catch (err) {
    console.error('interaction failed', err);
    res.writeHead(500, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}\n`);
  }
});
console.log(`issuer ${issuer}`);
