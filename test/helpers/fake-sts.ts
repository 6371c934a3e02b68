import { readRequestBody, startServer, type TestServer } from './http-server';

/**
 * A loopback STS answering AssumeRoleWithWebIdentity (the IRSA exchange) with the query
 * protocol's XML, issuing temporary keys the fake Bedrock is told to accept.
 */
export interface FakeSts extends TestServer {
  calls: Array<{ roleArn: string; token: string; sessionName: string }>;
}

export interface Issued {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export async function startFakeSts(opts: {
  roleArn: string;
  token: string;
  /** The temporary keys to issue, or a function of the call number (1, 2, …) for keys that change on refresh. */
  issue: Issued | ((n: number) => Issued);
}): Promise<FakeSts> {
  const calls: FakeSts['calls'] = [];
  const server = await startServer(async (req, res) => {
    const form = new URLSearchParams((await readRequestBody(req)).toString('utf8'));
    if (form.get('Action') !== 'AssumeRoleWithWebIdentity') {
      res.writeHead(400, { 'content-type': 'text/xml' });
      res.end(errorXml('InvalidAction', `unsupported action ${form.get('Action')}`));
      return;
    }
    const call = { roleArn: form.get('RoleArn') ?? '', token: form.get('WebIdentityToken') ?? '', sessionName: form.get('RoleSessionName') ?? '' };
    calls.push(call);
    if (call.roleArn !== opts.roleArn || call.token !== opts.token) {
      res.writeHead(403, { 'content-type': 'text/xml' });
      res.end(errorXml('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity'));
      return;
    }
    const c = typeof opts.issue === 'function' ? opts.issue(calls.length) : opts.issue;
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(`<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:switchyard:gateway</SubjectFromWebIdentityToken>
    <AssumedRoleUser>
      <Arn>${opts.roleArn.replace(':role/', ':assumed-role/').replace('arn:aws:iam', 'arn:aws:sts')}/${call.sessionName}</Arn>
      <AssumedRoleId>AROAEXAMPLE:${call.sessionName}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>${c.sessionToken}</SessionToken>
      <SecretAccessKey>${c.secretAccessKey}</SecretAccessKey>
      <Expiration>${c.expiration.toISOString()}</Expiration>
      <AccessKeyId>${c.accessKeyId}</AccessKeyId>
    </Credentials>
    <Audience>sts.amazonaws.com</Audience>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`);
  });
  return { ...server, calls };
}

function errorXml(code: string, message: string): string {
  return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>r1</RequestId></ErrorResponse>`;
}
