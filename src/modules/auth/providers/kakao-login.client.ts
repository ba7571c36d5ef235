import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { ProblemException } from '../../../core/http/problem';
import { ProviderProfile } from '../accounts.service';
import { OAuthLoginDto } from '../dto/auth-requests.dto';
import { callProvider, form, str } from './login-http';

interface KakaoMe {
  id?: number | string;
  kakao_account?: {
    email?: string;
    is_email_verified?: boolean;
    profile?: { nickname?: string; profile_image_url?: string };
  };
}

/** Kakao: the SDK access token (or one from a code exchange) is checked at /v2/user/me. */
@Injectable()
export class KakaoProvider {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async profile(body: OAuthLoginDto): Promise<ProviderProfile> {
    const token = body.accessToken ?? (await this.exchange(body));
    const { body: me, text } = await callProvider(
      'Kakao',
      `${this.config.KAKAO_API_URL.replace(/\/$/, '')}/v2/user/me`,
      {
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/x-www-form-urlencoded;charset=utf-8',
        },
      },
      this.config.THIRD_PARTY_TIMEOUT_MS,
    );
    const data = me as KakaoMe;
    // Kakao ids are int64: JSON.parse rounds a number above 2^53, so take its digits from the text.
    const id =
      typeof data.id === 'number' && !Number.isSafeInteger(data.id)
        ? /^\s*\{[^{]*?"id"\s*:\s*(\d+)/.exec(text)?.[1]
        : str(data.id);
    if (!id) throw ProblemException.unauthorized('Kakao did not identify the user');
    const account = data.kakao_account ?? {};
    return {
      provider: 'kakao',
      providerUserId: id,
      nickname: str(account.profile?.nickname),
      email: account.is_email_verified === false ? undefined : str(account.email),
      profileImageUrl: str(account.profile?.profile_image_url),
    };
  }

  private async exchange(body: OAuthLoginDto): Promise<string> {
    if (!body.code || !body.redirectUri) {
      throw ProblemException.validation([
        { field: 'accessToken', message: 'accessToken, or code and redirectUri, is required' },
      ]);
    }
    if (!this.config.KAKAO_CLIENT_ID) {
      throw ProblemException.unavailable('Kakao code login is not configured');
    }
    const { body: token } = await callProvider(
      'Kakao',
      `${this.config.KAKAO_AUTH_URL.replace(/\/$/, '')}/oauth/token`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded;charset=utf-8' },
        body: form({
          grant_type: 'authorization_code',
          client_id: this.config.KAKAO_CLIENT_ID,
          client_secret: this.config.KAKAO_CLIENT_SECRET,
          redirect_uri: body.redirectUri,
          code: body.code,
          code_verifier: body.codeVerifier,
        }),
      },
      this.config.THIRD_PARTY_TIMEOUT_MS,
    );
    const accessToken = str((token as { access_token?: unknown }).access_token);
    if (!accessToken) throw ProblemException.unauthorized('Kakao rejected the authorization code');
    return accessToken;
  }
}
