// A real OpenID Connect provider (npm oidc-provider) configured like Pro Santé Connect,
// for tests/psc.rs. Usage: node server.mjs CONFIG.json
//
// Like PSC (mssante-psc.md §1):
// * the discovery document is served as /.well-known/wallet-openid-configuration
//   (the standard name answers 404), with the authorization endpoint on a second
//   origin (the « wallet »), where the user-facing pages are;
// * acr eidas1 (e-CPS) / eidas3 (CPS card), scope scope_all with the PSC claims
//   (SubjectNameID, SubjectRefPro, otherIds, preferred_username…);
// * UserInfo as JSON or as a signed JWT (client metadata userinfo_signed_response_alg);
// * RP-initiated and back-channel logout.
//
// CONFIG.json: { "clients": [client metadata…], "identities": { accountId: claims } }.
// Prints "oidc issuer <url>" and "oidc wallet <url>" once both origins listen.

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const internal = crypto.randomBytes(16).toString('hex');

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const issuerServer = http.createServer();
const walletServer = http.createServer();
const issuer = `http://127.0.0.1:${await listen(issuerServer)}`;
const wallet = `http://127.0.0.1:${await listen(walletServer)}`;

function jwk(type, opts, kid, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, opts);
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}
const keys = [
  jwk('rsa', { modulusLength: 2048 }, 'rsa-rs256', 'RS256'),
  jwk('rsa', { modulusLength: 2048 }, 'rsa-ps256', 'PS256'),
  jwk('ec', { namedCurve: 'P-256' }, 'ec-es256', 'ES256'),
];

const PSC_CLAIMS = [
  'SubjectNameID', 'SubjectRefPro', 'SubjectOrganization', 'SubjectOrganizationID', 'SubjectRole',
  'otherIds', 'preferred_username', 'given_name', 'family_name', 'email_verified',
  'Secteur_Activite', 'Palier_Authentification', 'PSI_Locale', 'UITVersion',
  'Acces_Regulation_Medicale', 'Mode_Acces_Raison', 'authMode',
];

const provider = new Provider(issuer, {
  clients: config.clients,
  jwks: { keys },
  acrValues: ['eidas1', 'eidas2', 'eidas3'],
  scopes: ['openid', 'scope_all'],
  claims: { openid: ['sub'], scope_all: PSC_CLAIMS },
  cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
  pkce: { required: () => true },
  enabledJWA: {
    idTokenSigningAlgValues: ['RS256', 'PS256', 'ES256', 'HS256'],
    userinfoSigningAlgValues: ['RS256', 'PS256', 'ES256', 'HS256'],
    clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256'],
  },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
  features: {
    devInteractions: { enabled: false },
    jwtUserinfo: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      async logoutSource(ctx, form) {
        ctx.body = `<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>PSC déconnexion</title></head>
<body><h1>Se déconnecter de Pro Santé Connect ?</h1>${form}
<button id="psc-logout" type="submit" form="op.logoutForm" value="yes" name="logout">Oui, me déconnecter</button>
</body></html>`;
      },
    },
  },
  // oidc-provider refuses to call special-use addresses (SSRF guard); the test's
  // gateway (back-channel logout URI) is on loopback.
  fetch(url, { dispatcher, ...options }) {
    return globalThis.fetch(url, options);
  },
  async findAccount(ctx, sub) {
    const claims = config.identities[sub];
    if (!claims) return undefined;
    return { accountId: sub, async claims() { return { sub, ...claims }; } };
  },
  // Consent is implied, as at PSC: every requested scope is granted.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
    await grant.save();
    return grant;
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><html><body><h1>Erreur PSC</h1><pre>${JSON.stringify(out)}</pre></body></html>`;
  },
});
provider.on('backchannel.error', (ctx, err) => console.error('backchannel.error', err.message));
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const callback = provider.callback();

function escape(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

// The identity chooser: the test identities and the authentication means.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'POST') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const form = new URLSearchParams(body);
    const acr = form.get('acr');
    const login = { accountId: form.get('identity') };
    if (acr) login.acr = acr;
    login.amr = [acr === 'eidas3' ? 'card' : 'mobile'];
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    return;
  }
  const options = Object.entries(config.identities)
    .map(([id, c], i) => `<label><input type="radio" name="identity" value="${escape(id)}" id="id-${i}"${i === 0 ? ' checked' : ''}> ${escape(c.given_name)} ${escape(c.family_name)} (${escape(c.SubjectNameID)})</label><br>`)
    .join('\n');
  res.setHeader('content-type', 'text/html; charset=utf-8');
  res.end(`<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Pro Santé Connect (test)</title></head>
<body><h1>Pro Santé Connect — identités de test</h1>
<p>Demande ${escape(details.prompt.name)} pour ${escape(details.params.client_id)}</p>
<form method="post" action="/interaction/${escape(details.uid)}">
${options}
<select name="acr" id="acr">
<option value="eidas3">eidas3 (carte CPS)</option>
<option value="eidas1">eidas1 (e-CPS)</option>
<option value="eidas0">eidas0 (insuffisant)</option>
<option value="">(aucun acr)</option>
</select>
<button type="submit" id="psc-login">Se connecter</button>
</form></body></html>`);
}

async function route(req, res, origin) {
  try {
    const url = new URL(req.url, origin);
    if (url.pathname.startsWith('/interaction/')) return await interaction(req, res);
    if (origin === issuer && url.pathname === '/.well-known/wallet-openid-configuration') {
      const r = await fetch(`${issuer}/.well-known/openid-configuration`, { headers: { 'x-internal': internal } });
      const doc = await r.json();
      doc.authorization_endpoint = `${wallet}/auth`;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(doc));
      return;
    }
    if (url.pathname === '/.well-known/openid-configuration' && req.headers['x-internal'] !== internal) {
      res.statusCode = 404;
      res.end('PSC serves wallet-openid-configuration');
      return;
    }
    return callback(req, res);
  } catch (e) {
    console.error(e);
    res.statusCode = 500;
    res.end(String(e));
  }
}

issuerServer.on('request', (req, res) => route(req, res, issuer));
walletServer.on('request', (req, res) => route(req, res, wallet));
console.log(`oidc issuer ${issuer}`);
console.log(`oidc wallet ${wallet}`);
