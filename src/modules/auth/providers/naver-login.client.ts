import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../../../core/config/app-config';
import { ProblemException } from '../../../core/http/problem';
import { ProviderProfile } from '../accounts.service';
import { OAuthLoginDto } from '../dto/auth-requests.dto';
import { callProvider, form, str } from './login-http';

interface NaverMe {
  resultcode?: string;
  response?: { id?: string; nickname?: string; email?: string; profile_image?: string };
}

/** Naver: the access token is checked at /v1/nid/me (resultcode "00" means valid). */
@Injectable()
export class NaverProvider {
  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  async profile(body: OAuthLoginDto): Promise<ProviderProfile> {
    const token = body.accessToken ?? (await this.exchange(body));
    const { body: me } = await callProvider(
      'Naver',
      `${this.config.NAVER_API_URL.replace(/\/$/, '')}/v1/nid/me`,
      { headers: { Authorization: `Bearer ${token}` } },
      this.config.THIRD_PARTY_TIMEOUT_MS,
    );
    const data = me as NaverMe;
    const id = str(data.response?.id);
    if (data.resultcode !== '00' || !id) {
      throw ProblemException.unauthorized('Naver rejected the access token');
    }
    return {
      provider: 'naver',
      providerUserId: id,
      nickname: str(data.response?.nickname),
      email: str(data.response?.email),
      profileImageUrl: str(data.response?.profile_image),
    };
  }

  /** Naver answers token errors with HTTP 200 and an `error` field, so check the body. */
  private async exchange(body: OAuthLoginDto): Promise<string> {
    if (!body.code) {
      throw ProblemException.validation([
        { field: 'accessToken', message: 'accessToken, or code (and state), is required' },
      ]);
    }
    if (!this.config.NAVER_CLIENT_ID || !this.config.NAVER_CLIENT_SECRET) {
      throw ProblemException.unavailable('Naver code login is not configured');
    }
    const { body: token } = await callProvider(
      'Naver',
      `${this.config.NAVER_AUTH_URL.replace(/\/$/, '')}/oauth2.0/token`,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded;charset=utf-8' },
        body: form({
          grant_type: 'authorization_code',
          client_id: this.config.NAVER_CLIENT_ID,
          client_secret: this.config.NAVER_CLIENT_SECRET,
          code: body.code,
          state: body.state,
          redirect_uri: body.redirectUri,
        }),
      },
      this.config.THIRD_PARTY_TIMEOUT_MS,
    );
    const accessToken = str((token as { access_token?: unknown }).access_token);
    if (!accessToken) throw ProblemException.unauthorized('Naver rejected the authorization code');
    return accessToken;
  }
}
