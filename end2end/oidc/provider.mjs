// A real OpenID Provider for fluxgate's tests: `oidc-provider`, the certified Node.js
// implementation, with its own signing keys, a login page, and a few users with groups.
//
// Started by the Rust test harness (server/tests/it/oidc) and by the browser tests with
// OIDC_TEST_CONFIG, a JSON object:
//   port         TCP port on 127.0.0.1 (0: any free one)
//   clients      [{client_id, client_secret?, redirect_uris, post_logout_redirect_uris?}]
//   users        {login: {password, groups, email?, name?}}
//   groupsInToken  true: profile and group claims go in the ID token too; false (the
//                  spec's default when an access token is issued): only at userinfo
// It prints one line, `issuer <url>`, once it listens.
//
// Test controls (this test provider's own, not part of OpenID Connect), under /__test/:
//   POST /__test/users   {login, groups}   change a user's groups at the provider
//   POST /__test/tamper  {mode}            re-sign the next ID tokens wrongly: other-key,
//                                          other-audience, expired, wrong-nonce; null: off
//   POST /__test/tokens  {accessTtl, refresh}  token lifetime (s), refresh tokens on/off
//   POST /__test/rotate                    new signing key (the old one stays published)
import Provider from 'oidc-provider';
import * as jose from 'jose';
import http from 'node:http';

const config = JSON.parse(process.env.OIDC_TEST_CONFIG ?? '{}');
const users = config.users ?? {};
const settings = { tamper: null, accessTtl: 3600, refresh: false };

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: `k${Date.now()}${Math.floor(Math.random() * 1e6)}`, alg: 'RS256', use: 'sig' };
}

let keys = [await newKey()];
let provider;
let issuer;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Test IdP: sign in</title></head>
<body><main><h1>Test IdP</h1>${error ? `<p role="alert">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>Login <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password"></label>
<button type="submit">Sign in to Test IdP</button></form></main></body></html>`;
}

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

/** The ID token as the provider made it, changed and signed again as `mode` says. */
async function tampered(idToken, mode) {
  const claims = jose.decodeJwt(idToken);
  const { kid } = jose.decodeProtectedHeader(idToken);
  let key = await jose.importJWK(keys[0], 'RS256');
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'other-key') key = (await jose.generateKeyPair('RS256')).privateKey;
  if (mode === 'other-audience') claims.aud = 'someone-else';
  if (mode === 'expired') Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  if (mode === 'wrong-nonce') claims.nonce = 'not-the-nonce-fluxgate-sent';
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);
}

function build() {
  const p = new Provider(issuer, {
    clients: (config.clients ?? []).map((c) => ({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none',
      ...c,
    })),
    jwks: { keys },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    conformIdTokenClaims: !config.groupsInToken,
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    ttl: {
      AccessToken: () => settings.accessTtl,
      IdToken: () => settings.accessTtl,
    },
    issueRefreshToken: async (_ctx, client) =>
      settings.refresh && client.grantTypeAllowed('refresh_token'),
    async findAccount(_ctx, id) {
      const user = users[id];
      if (!user) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            preferred_username: id,
            name: user.name ?? id,
            email: user.email ?? `${id}@example.test`,
            email_verified: true,
            groups: user.groups ?? [],
          };
        },
      };
    },
  });
  p.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && settings.tamper && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: await tampered(ctx.body.id_token, settings.tamper) };
    }
  });
  return p;
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.prompt.name === 'login') {
    if (action !== 'login') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(loginPage(uid));
    }
    const form = new URLSearchParams(await body(req));
    const login = form.get('login') ?? '';
    if (!users[login] || users[login].password !== form.get('password')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(loginPage(uid, 'Wrong login or password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: login } }, {
      mergeWithLastSubmission: false,
    });
  }
  // Consent: fluxgate is this provider's own first-party client, so it is granted at once.
  const { missingOIDCScope, missingOIDCClaims } = details.prompt.details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
  if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
  const grantId = await grant.save();
  return provider.interactionFinished(req, res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
}

async function control(req, res, what) {
  const input = req.method === 'POST' ? JSON.parse((await body(req)) || '{}') : {};
  if (what === 'users') {
    users[input.login] = { ...(users[input.login] ?? {}), groups: input.groups };
  } else if (what === 'tamper') {
    settings.tamper = input.mode ?? null;
  } else if (what === 'tokens') {
    Object.assign(settings, input);
  } else if (what === 'rotate') {
    keys = [await newKey(), ...keys];
    provider = build();
  } else {
    res.writeHead(404);
    return res.end();
  }
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ok: true, settings }));
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname === '/favicon.ico') {
      // Browsers ask for it; a 404 would read as an error in the browser tests.
      res.writeHead(204);
      return res.end();
    }
    const test = url.pathname.match(/^\/__test\/(\w+)$/);
    if (test) return await control(req, res, test[1]);
    const step = url.pathname.match(/^\/interaction\/([\w-]+)(?:\/(login))?$/);
    if (step) return await interaction(req, res, step[1], step[2]);
    return provider.callback()(req, res);
  } catch (e) {
    console.error(e);
    if (!res.headersSent) res.writeHead(500);
    res.end(String(e));
  }
});

server.listen(config.port ?? 0, '127.0.0.1', () => {
  issuer = `http://127.0.0.1:${server.address().port}`;
  provider = build();
  console.log(`issuer ${issuer}`);
});
