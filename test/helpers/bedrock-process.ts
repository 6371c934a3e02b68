import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_KEY, apiKey, modelRoute, secret } from './gateway';
import { spawnGateway, writeConfig, type GatewayProcess } from './gateway-process';

/** Every way the AWS SDK's default chain could find credentials on a developer's machine or CI, switched off. */
function noAwsCredentials(region: string): Record<string, string> {
  const none = join(tmpdir(), 'switchyard-no-aws-config');
  return {
    AWS_REGION: region,
    AWS_CONFIG_FILE: none,
    AWS_SHARED_CREDENTIALS_FILE: none,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_SESSION_TOKEN: '',
    AWS_PROFILE: '',
    AWS_WEB_IDENTITY_TOKEN_FILE: '',
    AWS_ROLE_ARN: '',
    AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '',
  };
}

/**
 * A gateway child process serving model `claude-test` from a bedrock target without a
 * credentialsRef, so it signs with the pod identity the default chain finds; `identity` is the
 * only source set (IRSA's or Pod Identity's variables, or nothing). Its access log goes to stderr,
 * where `logs` reads it.
 */
export function spawnBedrockGateway(o: { bedrockURL: string; model: string; region: string; identity: Record<string, string> }): Promise<GatewayProcess> {
  const file = writeConfig([
    secret('client', { key: CLIENT_KEY }),
    modelRoute('bedrock', { model: 'claude-test', targets: [{ provider: 'bedrock', model: o.model, region: o.region, baseURL: o.bedrockURL }] }),
    apiKey('team-a', { secretRef: { name: 'client' } }),
  ]);
  return spawnGateway(file, { ...noAwsCredentials(o.region), SWITCHYARD_ACCESS_LOG: 'stderr', ...o.identity });
}
