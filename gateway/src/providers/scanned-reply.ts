import type { ReplyFacts } from '../core/upstream';
import { parseJson } from './json';

/**
 * A 2xx JSON reply whose facts were read from its bytes (`Provider.scanReply`): the client gets
 * `raw` as it is, and `body` is parsed on first read, by whatever reads it (content capture, a
 * shadow's comparison), most requests never.
 */
export class ScannedReply {
  readonly kind = 'json' as const;
  private parsed: any = undefined;

  constructor(
    readonly status: number,
    readonly headers: Record<string, string>,
    readonly raw: Buffer,
    readonly facts: ReplyFacts,
  ) {}

  get body(): any {
    // The scan proved `raw` to be a JSON object, so this is what parsing it first would have given.
    return (this.parsed ??= parseJson(this.raw));
  }
}
