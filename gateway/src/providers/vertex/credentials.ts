import { GoogleAuth, type AuthClient } from 'google-auth-library';
import { CredentialError, safeDetail } from '../credential-error';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

/**
 * How the gateway authenticates to Vertex AI: a service-account JSON key from a Secret, or
 * Application Default Credentials — on GKE with Workload Identity, the metadata server
 * (`GCE_METADATA_HOST` overrides its address).
 */
export type GoogleCredentialSource = { kind: 'serviceAccount'; json: string } | { kind: 'adc' };

export interface VertexAuthOptions {
  /**
   * Where a service-account key's signed JWT is exchanged for a token, instead of
   * oauth2.googleapis.com (a Private Service Connect endpoint; a fake in tests). Unset: the key's
   * own `token_uri` (google-auth-library ignores it and always posts to oauth2.googleapis.com,
   * unlike gcloud and the Python library, so it is honoured here).
   */
  tokenURL?: string;
}

export interface VertexAuth {
  readonly source: string;
  /** `Authorization: Bearer …`, from google-auth-library's cache (refreshed 5 min before expiry). */
  headers(): Promise<Record<string, string>>;
  /** The project the credentials belong to, when the target names none. */
  projectId(): Promise<string | undefined>;
}

export function describeGoogleSource(source: GoogleCredentialSource): string {
  return source.kind === 'serviceAccount' ? 'service-account key (Secret)' : 'Application Default Credentials (Workload Identity / metadata server)';
}

export function vertexAuth(source: GoogleCredentialSource, options: VertexAuthOptions = {}): VertexAuth {
  const label = describeGoogleSource(source);
  let clientPromise: Promise<AuthClient> | undefined;
  const client = () =>
    (clientPromise ??= makeClient(source, options).catch((err) => {
      clientPromise = undefined;
      throw err;
    }));
  return {
    source: label,
    async headers() {
      try {
        const { token } = await (await client()).getAccessToken();
        if (!token) throw new Error('no access token returned');
        return { authorization: `Bearer ${token}` };
      } catch (err) {
        throw new CredentialError('vertex', label, safeDetail(err));
      }
    },
    async projectId() {
      try {
        const c = await client();
        return c.projectId ?? (await new GoogleAuth({ authClient: c }).getProjectId().catch(() => undefined)) ?? undefined;
      } catch (err) {
        throw new CredentialError('vertex', label, safeDetail(err));
      }
    },
  };
}

async function makeClient(source: GoogleCredentialSource, options: VertexAuthOptions): Promise<AuthClient> {
  if (source.kind === 'adc') return new GoogleAuth({ scopes: CLOUD_PLATFORM_SCOPE }).getClient();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(source.json);
  } catch {
    // The parser's message quotes the text, which is the key: say only that it is not JSON.
    throw new Error('the key is not valid JSON');
  }
  if (json.type !== 'service_account' || typeof json.private_key !== 'string' || typeof json.client_email !== 'string') {
    throw new Error('the key is not a service-account key (type, client_email, private_key)');
  }
  const client = new GoogleAuth({ credentials: json, scopes: CLOUD_PLATFORM_SCOPE }).fromJSON(json);
  const keyTokenURL = typeof json.token_uri === 'string' && json.token_uri !== GOOGLE_TOKEN_URL ? json.token_uri : undefined;
  const tokenURL = options.tokenURL ?? keyTokenURL;
  if (tokenURL) {
    const target = tokenURL;
    client.transporter.interceptors.request.add({
      resolved: async (config) => {
        if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(target);
        return config;
      },
    });
  }
  return client;
}
