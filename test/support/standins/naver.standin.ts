import { randomBytes } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Loopback, listenLoopback, readBody } from './loopback-server';

/**
 * Stand-in for Naver login (openapi.naver.com /v1/nid/me and nid.naver.com /oauth2.0/token) on
 * 127.0.0.1, per docs/architecture.md → Third parties. Point NAVER_API_URL and NAVER_AUTH_URL at `url`.
 */
export interface NaverUser {
  id: string;
  nickname?: string;
  email?: string;
  profileImage?: string;
}

export class NaverStandin {
  url = '';
  latencyMs = 0;
  failStatus?: number;
  readonly requests: { method: string; path: string; params: URLSearchParams }[] = [];
  private readonly tokens = new Map<string, NaverUser>();
  private readonly expired = new Set<string>();
  private readonly codes = new Map<string, { user: NaverUser; state: string }>();
  private loop?: Loopback;

  constructor(
    readonly clientId = 'naver-client-id',
    readonly clientSecret = 'naver-client-secret',
  ) {}

  static async start(): Promise<NaverStandin> {
    const s = new NaverStandin();
    s.loop = await listenLoopback((req, res) => s.handle(req, res));
    s.url = s.loop.url;
    return s;
  }

  issueToken(user: NaverUser): string {
    const token = `naver-at-${randomBytes(12).toString('hex')}`;
    this.tokens.set(token, user);
    return token;
  }

  expireToken(token: string): void {
    this.expired.add(token);
  }

  issueCode(user: NaverUser, state: string): string {
    const code = `naver-code-${randomBytes(12).toString('hex')}`;
    this.codes.set(code, { user, state });
    return code;
  }

  async close(): Promise<void> {
    await this.loop?.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://x');
    // Naver's token endpoint takes its parameters in the query string or a form body.
    const params = new URLSearchParams(url.search);
    for (const [k, v] of new URLSearchParams(body)) params.set(k, v);
    this.requests.push({ method: req.method ?? '', path: url.pathname, params });
    if (this.latencyMs) await new Promise((r) => setTimeout(r, this.latencyMs));
    const send = (status: number, payload: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' });
      res.end(JSON.stringify(payload));
    };
    if (this.failStatus) return send(this.failStatus, { resultcode: '999', message: 'error' });

    if (req.method === 'GET' && url.pathname === '/v1/nid/me') {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const user = this.tokens.get(token);
      if (!user || this.expired.has(token)) {
        return send(401, {
          resultcode: '024',
          message: 'Authentication failed (인증 실패하였습니다.)',
        });
      }
      return send(200, {
        resultcode: '00',
        message: 'success',
        response: {
          id: user.id,
          ...(user.nickname ? { nickname: user.nickname } : {}),
          ...(user.email ? { email: user.email } : {}),
          ...(user.profileImage ? { profile_image: user.profileImage } : {}),
        },
      });
    }

    if (url.pathname === '/oauth2.0/token') {
      // Naver reports token errors with HTTP 200 and an error body.
      const invalid = (description: string) =>
        send(200, { error: 'invalid_request', error_description: description });
      if (params.get('grant_type') !== 'authorization_code') return invalid('unsupported grant');
      if (
        params.get('client_id') !== this.clientId ||
        params.get('client_secret') !== this.clientSecret
      ) {
        return send(200, {
          error: 'invalid_client',
          error_description: 'client authentication failed',
        });
      }
      const code = params.get('code') ?? '';
      const grant = this.codes.get(code);
      if (!grant || grant.state !== params.get('state')) return invalid('no valid data in session');
      this.codes.delete(code);
      return send(200, {
        access_token: this.issueToken(grant.user),
        refresh_token: `naver-rt-${randomBytes(8).toString('hex')}`,
        token_type: 'bearer',
        expires_in: '3600',
      });
    }
    send(404, { resultcode: '404', message: 'not found' });
  }
}
