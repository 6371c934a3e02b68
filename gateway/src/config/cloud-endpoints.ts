/**
 * The default endpoints of the cloud providers, per region. Here rather than in the providers
 * because the compiler fills in a target's `baseURL` from them, and config imports nothing above core.
 */

export function bedrockBaseURL(region: string): string {
  return `https://bedrock-runtime.${region}.amazonaws.com`;
}

/** Host and `v1` root per location, as the Vertex SDK chooses them. */
export function vertexBaseURL(region: string): string {
  switch (region) {
    case 'global':
      return 'https://aiplatform.googleapis.com/v1';
    case 'us':
    case 'eu':
      return `https://aiplatform.${region}.rep.googleapis.com/v1`;
    default:
      return `https://${region}-aiplatform.googleapis.com/v1`;
  }
}
