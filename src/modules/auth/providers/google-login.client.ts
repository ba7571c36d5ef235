import { Inject, Injectable } from '@nestjs/common';
import { JWTPayload, createRemoteJWKSet, errors, jwtVerify } from 'jose';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { ProblemException } from '../../../core/http/problem';
import { ProviderProfile } from '../accounts.service';
import { OAuthLoginDto } from '../dto/auth-requests.dto';
import { callProvider, form, str } from './login-http';

const GOOGLE_ISSUERS = ['accounts.google.com', 'https://accounts.google.com'];

/** Failures that mean "this token is not acceptable" (401), as opposed to "we could not check" (503). */
const TOKEN_ERRORS = [
  errors.JWTExpired,
  errors.JWTClaimValidationFailed,
  errors.JWTInvalid,
  errors.JWSInvalid,
  errors.JWSSignatureVerificationFailed,
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
  errors.JOSEAlgNotAllowed,
  errors.JOSENotSupported,
];

/**
 * Google: the ID token's RS256 signature is checked against the JWKS at GOOGLE_JWKS_URL
 * (cached by jose, refetched when an unknown `kid` appears), then iss, aud (one of
 * GOOGLE_CLIENT_IDS) and exp. The account key is `sub`.
 */
@Injectable()
export class GoogleProvider {
  private jwks?: ReturnType<typeof createRemoteJWKSet>;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async profile(body: OAuthLoginDto): Promise<ProviderProfile> {
    if (!this.config.GOOGLE_CLIENT_IDS.length) {
      throw ProblemException.unavailable('Google login is not configured');
    }
    const idToken = body.idToken ?? (await this.exchange(body));
    const claims = await this.verify(idToken);
    const sub = str(claims.sub);
    if (!sub) throw ProblemException.unauthorized('The Google ID token has no subject');
    return {
      provider: 'google',
      providerUserId: sub,
      nickname: str(claims.name),
      email: claims.email_verified === true ? str(claims.email) : undefined,
      profileImageUrl: str(claims.picture),
    };
  }

  private async verify(idToken: string): Promise<JWTPayload> {
    this.jwks ??= createRemoteJWKSet(new URL(this.config.GOOGLE_JWKS_URL), {
      timeoutDuration: this.config.THIRD_PARTY_TIMEOUT_MS,
    });
    try {
      const { payload } = await jwtVerify(idToken, this.jwks, {
        algorithms: ['RS256'],
        issuer: GOOGLE_ISSUERS,
        audience: this.config.GOOGLE_CLIENT_IDS,
        requiredClaims: ['sub', 'exp', 'iat'],
      });
      return payload;
    } catch (err) {
      if (TOKEN_ERRORS.some((E) => err instanceof E)) {
        throw ProblemException.unauthorized('The Google ID token is not valid');
      }
      throw ProblemException.unavailable('Google login is unavailable right now');
    }
  }

  /** Code exchange with Google's token endpoint; the answer's id_token is verified like any other. */
  private async exchange(body: OAuthLoginDto): Promise<string> {
    if (!body.code || !body.redirectUri) {
      throw ProblemException.validation([
        { field: 'idToken', message: 'idToken, or code and redirectUri, is required' },
      ]);
    }
    if (!this.config.GOOGLE_CLIENT_SECRET) {
      throw ProblemException.unavailable('Google code login is not configured');
    }
    const { body: token } = await callProvider(
      'Google',
      this.config.GOOGLE_TOKEN_URL,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: form({
          grant_type: 'authorization_code',
          code: body.code,
          // The first accepted audience is the web client that codes are issued to.
          client_id: this.config.GOOGLE_CLIENT_IDS[0],
          client_secret: this.config.GOOGLE_CLIENT_SECRET,
          redirect_uri: body.redirectUri,
          code_verifier: body.codeVerifier,
        }),
      },
      this.config.THIRD_PARTY_TIMEOUT_MS,
    );
    const idToken = str((token as { id_token?: unknown }).id_token);
    if (!idToken) throw ProblemException.unauthorized('Google returned no ID token');
    return idToken;
  }
}
