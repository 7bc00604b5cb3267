// A relying party that is not Python: openid-client (https://github.com/panva/openid-client) signs in
// through the flask-wecom hub. Driven by tests/test_hub.py:
//   node rp.mjs ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI
// prints {"authorize": url} on one line, reads the callback URL (…?code=…&state=…) from stdin, then
// redeems it (PKCE S256, nonce and state checked, id_token verified with the hub's JWKS) and prints
// {"claims": …, "userinfo": …}. Plain http is allowed for the loopback test hub only.
import * as client from "openid-client";
import { createInterface } from "node:readline";

const [issuer, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined,
                                      { execute: [client.allowInsecureRequests] });
const verifier = client.randomPKCECodeVerifier();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const nonce = client.randomNonce();
const state = client.randomState();
const url = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri, scope: "openid profile email", code_challenge: challenge,
  code_challenge_method: "S256", nonce, state,
});
console.log(JSON.stringify({ authorize: url.href }));

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const tokens = await client.authorizationCodeGrant(config, new URL(line.trim()), {
    pkceCodeVerifier: verifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  console.log(JSON.stringify({ claims, userinfo }));
  break;
}
