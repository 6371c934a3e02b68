import { generateKeyPairSync } from 'node:crypto';
import { compile } from '../gateway/src/config/compile';
import type { K8sObject } from '../gateway/src/config/k8s-object';
import { redact, secretsOf } from '../gateway/src/providers/redact';
import { validateObject } from './helpers/crd-validation';

const NS = 'team';

function routeWith(target: any): K8sObject {
  return { apiVersion: 'switchyard.dev/v1alpha1', kind: 'ModelRoute', metadata: { name: 'r', namespace: NS }, spec: { model: 'm', targets: [target] } };
}

function secret(name: string, stringData: Record<string, string>): K8sObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: NS }, stringData } as K8sObject;
}

function compileOne(target: any, secrets: K8sObject[] = []) {
  const { snapshot, results } = compile({ routes: [routeWith(target)], keys: [], secrets, serial: 1 });
  return { target: snapshot.routes[0]?.targets[0], result: results[0] };
}

const PEM = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SA_JSON = JSON.stringify({
  type: 'service_account',
  project_id: 'proj-1',
  private_key_id: 'b1f0c2d3e4a5968778695a4b3c2d1e0f12345678',
  private_key: PEM,
  client_email: 'gw@proj-1.iam.gserviceaccount.com',
});

describe('bedrock and vertex targets in compile()', () => {
  test('bedrock: the base URL follows the region; no Secret means the pod identity', () => {
    const { target, result } = compileOne({ provider: 'bedrock', model: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0', region: 'eu-west-1' });
    expect(result.accepted).toBe(true);
    expect(target).toMatchObject({ provider: 'bedrock', region: 'eu-west-1', baseURL: 'https://bedrock-runtime.eu-west-1.amazonaws.com' });
    expect(target?.aws).toBeUndefined();
    expect(target?.apiKey).toBeUndefined();
  });

  test('bedrock: static AWS keys from the Secret, session token optional, all of them redacted', () => {
    const keys = {
      AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID0001',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEJr//////////wEaDEXAMPLETOKEN',
    };
    const { target } = compileOne({ provider: 'bedrock', model: 'anthropic.claude-3-haiku', region: 'us-east-1', credentialsRef: { name: 'aws' } }, [
      secret('aws', keys),
    ]);
    expect(target?.aws).toEqual({ accessKeyId: keys.AWS_ACCESS_KEY_ID, secretAccessKey: keys.AWS_SECRET_ACCESS_KEY, sessionToken: keys.AWS_SESSION_TOKEN });
    const echoed = `denied for ${keys.AWS_ACCESS_KEY_ID} signed with ${keys.AWS_SECRET_ACCESS_KEY} token ${keys.AWS_SESSION_TOKEN}`;
    const clean = redact(echoed, secretsOf(target));
    for (const v of Object.values(keys)) expect(clean).not.toContain(v);
  });

  test('bedrock: an access key id without its secret is refused, naming the keys only', () => {
    const { result } = compileOne({ provider: 'bedrock', model: 'm', region: 'us-east-1', credentialsRef: { name: 'aws' } }, [
      secret('aws', { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEYID0002' }),
    ]);
    expect(result.accepted).toBe(false);
    expect(result.message).toMatch(/has AWS_ACCESS_KEY_ID but no AWS_SECRET_ACCESS_KEY/);
    expect(result.message).not.toContain('AKIAEXAMPLEKEYID0002');
  });

  test('bedrock: a Secret without AWS keys holds a Bedrock API key', () => {
    const { target } = compileOne({ provider: 'bedrock', model: 'm', region: 'us-east-1', credentialsRef: { name: 'aws' } }, [
      secret('aws', { apiKey: 'ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl' }),
    ]);
    expect(target?.apiKey).toBe('ABSKQmVkcm9ja0FQSUtleS1leGFtcGxl');
    expect(target?.aws).toBeUndefined();
  });

  test('vertex: regional, global and multi-region base URLs; the project is kept', () => {
    expect(compileOne({ provider: 'vertex', model: 'claude-sonnet-4-5@20250929', region: 'us-east5', project: 'p' }).target?.baseURL).toBe(
      'https://us-east5-aiplatform.googleapis.com/v1',
    );
    expect(compileOne({ provider: 'vertex', model: 'gemini-2.5-pro', region: 'global' }).target?.baseURL).toBe('https://aiplatform.googleapis.com/v1');
    expect(compileOne({ provider: 'vertex', model: 'm', region: 'eu', project: 'p' }).target).toMatchObject({
      baseURL: 'https://aiplatform.eu.rep.googleapis.com/v1',
      project: 'p',
    });
  });

  test('vertex: a service-account key from the Secret (default key service-account.json); its private key is redacted', () => {
    const { target } = compileOne({ provider: 'vertex', model: 'm', region: 'us-east5', credentialsRef: { name: 'gcp' } }, [
      secret('gcp', { 'service-account.json': SA_JSON }),
    ]);
    expect(target?.googleServiceAccount).toBe(SA_JSON);
    const line = PEM.split('\n')[3];
    const clean = redact(`key ${line} id b1f0c2d3e4a5968778695a4b3c2d1e0f12345678`, secretsOf(target));
    expect(clean).not.toContain(line);
    expect(clean).not.toContain('b1f0c2d3e4a5968778695a4b3c2d1e0f12345678');
  });

  test('vertex: a Secret value that is not Google credentials JSON is refused without echoing it', () => {
    const { result } = compileOne({ provider: 'vertex', model: 'm', region: 'us-east5', credentialsRef: { name: 'gcp', key: 'k' } }, [
      secret('gcp', { k: 'not-json-super-secret-value' }),
    ]);
    expect(result.accepted).toBe(false);
    expect(result.message).toMatch(/key 'k' is not a Google credentials JSON file/);
    expect(result.message).not.toContain('super-secret');
  });

  test.each([
    [{ provider: 'bedrock', model: 'm' }, /region: required for provider bedrock/],
    [{ provider: 'vertex', model: 'm' }, /region: required for provider vertex/],
    [{ provider: 'anthropic', model: 'm', region: 'us-east-1' }, /region: only for providers bedrock and vertex/],
    [{ provider: 'bedrock', model: 'm', region: 'us-east-1', project: 'p' }, /project: only for provider vertex/],
    [{ provider: 'bedrock', model: 'm', region: 'us-east-1', options: { betas: 'x' } }, /options\.betas: must be a list/],
    [{ provider: 'bedrock', model: 'm', region: 'us-east-1', options: { publisher: 'google' } }, /options\.publisher: unknown option for provider bedrock/],
    [{ provider: 'vertex', model: 'm', region: 'us-east5', options: { publisher: 'meta' } }, /options\.publisher: must be one of anthropic, google/],
  ])('refused: %j', (target, message) => {
    const { result } = compileOne(target);
    expect(result.accepted).toBe(false);
    expect(result.message).toMatch(message);
  });

  test('options lists are accepted as lists', () => {
    const { target, result } = compileOne({
      provider: 'bedrock',
      model: 'm',
      region: 'us-east-1',
      options: { betas: ['interleaved-thinking-2025-05-14', 'computer-use-*'], dropFields: ['tools[].eager_input_streaming', 'output_config'] },
    });
    expect(result.accepted).toBe(true);
    expect(target?.options?.dropFields).toEqual(['tools[].eager_input_streaming', 'output_config']);
  });

  test('the CRD CEL rules say the same to kubectl', () => {
    expect(validateObject('ModelRoute', routeWith({ provider: 'bedrock', model: 'm' })).join('\n')).toMatch(
      /region is required for providers bedrock and vertex/,
    );
    expect(validateObject('ModelRoute', routeWith({ provider: 'anthropic', model: 'm', project: 'p' })).join('\n')).toMatch(
      /project is only for provider vertex/,
    );
    expect(validateObject('ModelRoute', routeWith({ provider: 'vertex', model: 'm', region: 'global', project: 'p' }))).toEqual([]);
  });
});
