// A real OpenID Connect provider for the HMI's tests: oidc-provider (a certified OP implementation) with one
// confidential test client, a second client (for audience tests), three accounts with passwords and a custom
// `hmi_roles` claim. Started by tests/oidc_provider.py:
//
//   node provider.mjs PORT REDIRECT_URI POST_LOGOUT_REDIRECT_URI
//
// The client secrets come from the environment (OIDC_TEST_CLIENT_SECRET), so they never show in a process list.
// With OIDC_TEST_TLS_CERT and OIDC_TEST_TLS_KEY (PEM files) it serves https:// with that certificate.
// Its own login page checks the password (oidc-provider's development interactions accept any login without one),
// and consent is implied for the test clients, as for a plant's first-party application.

import { generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

import Provider from 'oidc-provider';

const [port, redirectUri, postLogoutRedirectUri] = process.argv.slice(2);
if (!port || !redirectUri || !postLogoutRedirectUri) {
  console.error('usage: node provider.mjs PORT REDIRECT_URI POST_LOGOUT_REDIRECT_URI');
  process.exit(2);
}
const secret = process.env.OIDC_TEST_CLIENT_SECRET;
if (!secret) {
  console.error('set OIDC_TEST_CLIENT_SECRET to the test clients\' secret');
  process.exit(2);
}
const tls = process.env.OIDC_TEST_TLS_CERT && process.env.OIDC_TEST_TLS_KEY
  ? { cert: readFileSync(process.env.OIDC_TEST_TLS_CERT), key: readFileSync(process.env.OIDC_TEST_TLS_KEY) }
  : null;
const issuer = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;

// sub is an opaque, stable id (what the HMI records); preferred_username is the name people know.
const ACCOUNTS = {
  lena: { sub: 'a7c1e0f4-lena', password: 'lena-lead-pw', name: 'Lena Lead', roles: ['HMI-Operators', 'HMI-Leads'] },
  otto: { sub: 'b2d9f611-otto', password: 'otto-op-pw', name: 'Otto Operator', roles: ['HMI-Operators'] },
  eve: { sub: 'c5e38a20-eve', password: 'eve-office-pw', name: 'Eve Office', roles: ['Finance'] },
};
const bySub = Object.fromEntries(Object.entries(ACCOUNTS).map(([login, a]) => [a.sub, { login, ...a }]));

function passwordMatches(account, given) {
  const a = Buffer.from(account.password);
  const b = Buffer.from(given ?? '');
  return a.length === b.length && timingSafeEqual(a, b);
}

// A fresh signing key per run: nothing secret is kept in the repository.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `test-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };

const client = (clientId) => ({
  client_id: clientId,
  client_secret: secret,
  redirect_uris: [redirectUri],
  post_logout_redirect_uris: [postLogoutRedirectUri],
  // Where the provider tells the HMI that a person's session here ended (OpenID Connect Back-Channel Logout 1.0).
  ...(clientId === 'factory-hmi' ? { backchannel_logout_uri: new URL('/auth/oidc/backchannel-logout', redirectUri).href } : {}),
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  // auth_time in every id_token, so the HMI can record when the person last entered the password.
  require_auth_time: true,
});

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  clients: [client('factory-hmi'), client('other-app')],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // PKCE for every client, the confidential ones included (RFC 9700 §2.1.1).
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['name', 'preferred_username', 'hmi_roles'] },
  // Scope-requested claims go into the id_token too (the HMI reads the role claim from the id_token).
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: false },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><html><head><title>Sign out</title></head><body>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Sign out</button></body></html>`;
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = '<!DOCTYPE html><html><head><title>Signed out</title></head><body>Signed out.</body></html>';
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // The provider refuses to call special-use addresses (its SSRF guard, right for a real deployment); the HMI under
  // test listens on 127.0.0.1, so calls to exactly that address (back-channel logout) go out unguarded.
  async fetch(url, options) {
    if (new URL(url).hostname === '127.0.0.1') delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
  async findAccount(ctx, id) {
    const account = bySub[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: account.name, preferred_username: account.login, hmi_roles: account.roles };
      },
    };
  },
  // The test clients are first-party: their grant (openid profile) is given without a consent page.
  async loadExistingGrant(ctx) {
    const existing = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (existing) return ctx.oidc.provider.Grant.find(existing);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid profile');
    await grant.save();
    return grant;
  },
});

function loginPage(uid, error) {
  const message = error ? `<p role="alert">${escapeHtml(error)}</p>` : '';
  return `<!DOCTYPE html><html><head><title>Sign in</title></head><body>${message}
<form method="post" action="/interaction/${escapeHtml(uid)}">
<input type="text" name="login" autocomplete="username" required>
<input type="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>`;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10_000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid || details.prompt.name !== 'login') {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`unexpected interaction ${details.prompt.name}`);
    return;
  }
  if (req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(loginPage(uid));
    return;
  }
  const form = await readForm(req);
  const account = ACCOUNTS[form.get('login')];
  if (!account || !passwordMatches(account, form.get('password'))) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      .end(loginPage(uid, 'Invalid user name or password.'));
    return;
  }
  await provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
}

const handler = provider.callback();
const listener = (req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(req.url, issuer).pathname);
  if (!match) {
    handler(req, res);
    return;
  }
  interaction(req, res, match[1]).catch((err) => {
    if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`interaction failed: ${err.message}`);
  });
};
const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
// What the back-channel logout did, for a failed test's log.
provider.on('backchannel.success', (ctx, client, accountId) => console.log(`backchannel logout of ${accountId} sent to ${client.clientId}`));
provider.on('backchannel.error', (ctx, err, client, accountId) => console.log(`backchannel logout of ${accountId} to ${client.clientId} failed: ${err.message} ${err.cause ? err.cause.code + " " + err.cause.message : ""}`));

server.listen(Number(port), '127.0.0.1', () => console.log(`oidc test provider on ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
