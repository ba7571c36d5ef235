import { randomBytes } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Loopback, listenLoopback, readBody } from './loopback-server';
import { JWK, JWTPayload, KeyLike, SignJWT, exportJWK, generateKeyPair } from 'jose';

/**
 * Stand-in for Google sign-in on 127.0.0.1: a JWKS endpoint serving a locally generated RS256
 * key set (GOOGLE_JWKS_URL = `${url}/oauth2/v3/certs`), an ID-token minter, and the token
 * endpoint for code exchange (GOOGLE_TOKEN_URL = `${url}/token`).
 */
export interface GoogleUser {
  sub: string;
  email?: string;
  emailVerified?: boolean;
  name?: string;
  picture?: string;
}

export interface MintOptions {
  aud?: string;
  iss?: string;
  /** Seconds from now; negative for an expired token. */
  expiresIn?: number;
  /** Sign with a key that is not in the published set. */
  foreignKey?: boolean;
  kid?: string;
  extra?: JWTPayload;
}

interface SigningKey {
  kid: string;
  privateKey: KeyLike;
  jwk: JWK;
}

export class GoogleStandin {
  url = '';
  latencyMs = 0;
  failStatus?: number;
  jwksFetches = 0;
  private keys: SigningKey[] = [];
  private foreign?: SigningKey;
  private readonly codes = new Map<string, { user: GoogleUser; redirectUri: string }>();
  private loop?: Loopback;

  constructor(
    readonly clientId = 'google-client-id.apps.googleusercontent.com',
    readonly clientSecret = 'google-client-secret',
  ) {}

  get jwksUrl(): string {
    return `${this.url}/oauth2/v3/certs`;
  }

  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  static async start(): Promise<GoogleStandin> {
    const s = new GoogleStandin();
    s.keys = [await GoogleStandin.newKey()];
    s.foreign = await GoogleStandin.newKey();
    s.loop = await listenLoopback((req, res) => s.handle(req, res));
    s.url = s.loop.url;
    return s;
  }

  private static async newKey(): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const kid = randomBytes(8).toString('hex');
    const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    return { kid, privateKey, jwk };
  }

  /** Publishes a new key and signs with it from now on (Google rotates its keys). */
  async rotateKey(): Promise<void> {
    this.keys = [await GoogleStandin.newKey(), ...this.keys.slice(0, 1)];
  }

  async mintIdToken(user: GoogleUser, opts: MintOptions = {}): Promise<string> {
    const key = opts.foreignKey ? this.foreign! : this.keys[0];
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      ...(user.email ? { email: user.email, email_verified: user.emailVerified ?? true } : {}),
      ...(user.name ? { name: user.name } : {}),
      ...(user.picture ? { picture: user.picture } : {}),
      azp: opts.aud ?? this.clientId,
      ...opts.extra,
    })
      .setProtectedHeader({ alg: 'RS256', kid: opts.kid ?? key.kid, typ: 'JWT' })
      .setIssuer(opts.iss ?? 'https://accounts.google.com')
      .setAudience(opts.aud ?? this.clientId)
      .setSubject(user.sub)
      .setIssuedAt(now - 5)
      .setExpirationTime(now + (opts.expiresIn ?? 3600))
      .sign(key.privateKey);
  }

  issueCode(user: GoogleUser, redirectUri: string): string {
    const code = `4/google-code-${randomBytes(12).toString('hex')}`;
    this.codes.set(code, { user, redirectUri });
    return code;
  }

  async close(): Promise<void> {
    await this.loop?.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (this.latencyMs) await new Promise((r) => setTimeout(r, this.latencyMs));
    const send = (status: number, payload: unknown) => {
      if (res.destroyed) return;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(payload));
    };
    if (this.failStatus) return send(this.failStatus, { error: 'internal_failure' });

    if (req.method === 'GET' && path === '/oauth2/v3/certs') {
      this.jwksFetches++;
      return send(200, { keys: this.keys.map((k) => k.jwk) });
    }
    if (req.method === 'POST' && path === '/token') {
      const form = new URLSearchParams(body);
      if (
        form.get('client_id') !== this.clientId ||
        form.get('client_secret') !== this.clientSecret
      ) {
        return send(401, { error: 'invalid_client', error_description: 'Unauthorized' });
      }
      const code = form.get('code') ?? '';
      const grant = this.codes.get(code);
      if (
        form.get('grant_type') !== 'authorization_code' ||
        !grant ||
        grant.redirectUri !== form.get('redirect_uri')
      ) {
        return send(400, { error: 'invalid_grant', error_description: 'Bad Request' });
      }
      this.codes.delete(code);
      return send(200, {
        access_token: `ya29.${randomBytes(16).toString('hex')}`,
        expires_in: 3599,
        scope: 'openid email profile',
        token_type: 'Bearer',
        id_token: await this.mintIdToken(grant.user),
      });
    }
    send(404, { error: 'not_found' });
  }
}
