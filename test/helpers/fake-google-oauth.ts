import { createPublicKey, createVerify, generateKeyPairSync } from 'node:crypto';
import { readRequestBody, startServer, type TestServer } from './http-server';

/**
 * A loopback Google OAuth token endpoint for service-account keys: it verifies the RS256 JWT
 * assertion against the key pair's public half, checks issuer and scope, and issues a token.
 */
export interface FakeGoogleOAuth extends TestServer {
  grants: Array<{ iss: string; scope: string }>;
}

/** `token` may be a function, to issue a new token per grant; `expiresIn` (seconds) short makes google-auth-library refresh early. */
export async function startFakeGoogleOAuth(opts: {
  publicKeyPem: string;
  clientEmail: string;
  token: string | (() => string);
  expiresIn?: number;
}): Promise<FakeGoogleOAuth> {
  const grants: FakeGoogleOAuth['grants'] = [];
  const key = createPublicKey(opts.publicKeyPem);
  const server = await startServer(async (req, res) => {
    const form = new URLSearchParams((await readRequestBody(req)).toString('utf8'));
    const refuse = (why: string) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'invalid_grant', error_description: why }));
    };
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return refuse('unsupported grant_type');
    const [h, p, sig] = (form.get('assertion') ?? '').split('.');
    if (!sig) return refuse('malformed assertion');
    const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(key, Buffer.from(sig, 'base64url'));
    if (!ok) return refuse('Invalid JWT Signature.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    if (claims.iss !== opts.clientEmail) return refuse('wrong issuer');
    grants.push({ iss: claims.iss, scope: claims.scope });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ access_token: typeof opts.token === 'function' ? opts.token() : opts.token, expires_in: opts.expiresIn ?? 3599, token_type: 'Bearer' }),
    );
  });
  return { ...server, grants };
}

/** A fresh service-account key: `json(tokenURI)` is the key file (as in the Secret) with that `token_uri`; the public half is for the fake. */
export function serviceAccountKey(project: string, clientEmail = `switchyard@${project}.iam.gserviceaccount.com`) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const json = (tokenURI: string) =>
    JSON.stringify({
      type: 'service_account',
      project_id: project,
      private_key_id: 'kid-0123456789abcdef',
      private_key: privateKeyPem,
      client_email: clientEmail,
      token_uri: tokenURI,
    });
  return { json, privateKeyPem, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), clientEmail };
}
