import { randomBytes } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Loopback, listenLoopback, readBody } from './loopback-server';

/**
 * Stand-in for Kakao login (kapi.kakao.com /v2/user/me and kauth.kakao.com /oauth/token), on
 * 127.0.0.1, speaking the wire format in docs/architecture.md → Third parties. Point KAKAO_API_URL
 * and KAKAO_AUTH_URL at `url`.
 */
export interface KakaoUser {
  /** int64 in Kakao's API; a string here so ids above 2^53 can be written out exactly. */
  id: string;
  nickname: string;
  email?: string;
  profileImageUrl?: string;
}

export class KakaoAuthStandin {
  url = '';
  /** Added to every answer (ms); set above the app's THIRD_PARTY_TIMEOUT_MS to simulate a hang. */
  latencyMs = 0;
  /** When set, every request answers this status (e.g. 500: Kakao is down). */
  failStatus?: number;
  readonly requests: { method: string; path: string; form?: URLSearchParams; auth?: string }[] = [];
  private readonly tokens = new Map<string, KakaoUser>();
  private readonly expired = new Set<string>();
  private readonly codes = new Map<string, { user: KakaoUser; redirectUri: string }>();
  private loop?: Loopback;

  constructor(readonly clientId = 'kakao-client-id') {}

  static async start(clientId?: string): Promise<KakaoAuthStandin> {
    const s = new KakaoAuthStandin(clientId);
    s.loop = await listenLoopback((req, res) => s.handle(req, res));
    s.url = s.loop.url;
    return s;
  }

  /** A valid SDK access token for the user. */
  issueToken(user: KakaoUser): string {
    const token = `kakao-at-${randomBytes(12).toString('hex')}`;
    this.tokens.set(token, user);
    return token;
  }

  expireToken(token: string): void {
    this.expired.add(token);
  }

  /** A one-time authorization code, valid only with this redirect URI. */
  issueCode(user: KakaoUser, redirectUri: string): string {
    const code = `kakao-code-${randomBytes(12).toString('hex')}`;
    this.codes.set(code, { user, redirectUri });
    return code;
  }

  async close(): Promise<void> {
    await this.loop?.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const form = req.method === 'POST' ? new URLSearchParams(body) : undefined;
    this.requests.push({ method: req.method ?? '', path, form, auth: req.headers.authorization });
    if (this.latencyMs) await new Promise((r) => setTimeout(r, this.latencyMs));
    const send = (status: number, payload: unknown, raw?: string) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
      res.end(raw ?? JSON.stringify(payload));
    };
    if (this.failStatus) return send(this.failStatus, { msg: 'internal error', code: -1 });

    if (req.method === 'GET' && path === '/v2/user/me') {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const user = this.tokens.get(token);
      if (!user) return send(401, { msg: 'this access token does not exist', code: -401 });
      if (this.expired.has(token)) {
        return send(401, { msg: 'this access token is already expired', code: -401 });
      }
      const account = {
        profile_nickname_needs_agreement: false,
        profile: {
          nickname: user.nickname,
          ...(user.profileImageUrl
            ? { profile_image_url: user.profileImageUrl, thumbnail_image_url: user.profileImageUrl }
            : {}),
          is_default_image: !user.profileImageUrl,
        },
        ...(user.email ? { email: user.email, is_email_valid: true, is_email_verified: true } : {}),
      };
      // The id is written as a bare JSON number, exactly as Kakao sends it.
      const rest = JSON.stringify({ connected_at: '2025-01-01T00:00:00Z', kakao_account: account });
      return send(200, undefined, `{"id":${user.id},${rest.slice(1)}`);
    }

    if (req.method === 'POST' && path === '/oauth/token') {
      const code = form?.get('code') ?? '';
      const grant = this.codes.get(code);
      if (form?.get('grant_type') !== 'authorization_code') {
        return send(400, {
          error: 'unsupported_grant_type',
          error_description: 'grant_type mismatched',
          error_code: 'KOE004',
        });
      }
      if (form.get('client_id') !== this.clientId) {
        return send(401, {
          error: 'invalid_client',
          error_description: 'Bad client credentials',
          error_code: 'KOE101',
        });
      }
      if (!grant || grant.redirectUri !== form.get('redirect_uri')) {
        return send(400, {
          error: 'invalid_grant',
          error_description: `authorization code not found for code=${code}`,
          error_code: 'KOE320',
        });
      }
      this.codes.delete(code);
      return send(200, {
        token_type: 'bearer',
        access_token: this.issueToken(grant.user),
        expires_in: 21599,
        refresh_token: `kakao-rt-${randomBytes(8).toString('hex')}`,
        refresh_token_expires_in: 5183999,
        scope: 'profile_nickname account_email',
      });
    }
    send(404, { msg: 'not found', code: -404 });
  }
}
