import { Injectable } from '@nestjs/common';
import { ProblemException } from '../../../core/http/problem';
import { ProviderProfile } from '../accounts.service';
import { OAuthLoginDto } from '../dto/auth-requests.dto';
import { OAuthProvider } from '../entities/identity.entity';
import { GoogleProvider } from './google-login.client';
import { KakaoProvider } from './kakao-login.client';
import { NaverProvider } from './naver-login.client';

/** Checks that the body holds exactly one credential form the provider accepts, then verifies it. */
@Injectable()
export class OAuthVerifier {
  constructor(
    private readonly kakao: KakaoProvider,
    private readonly naver: NaverProvider,
    private readonly google: GoogleProvider,
  ) {}

  verify(provider: OAuthProvider, body: OAuthLoginDto): Promise<ProviderProfile> {
    const forms = [body.accessToken, body.idToken, body.code].filter((v) => v !== undefined);
    if (forms.length !== 1) {
      throw ProblemException.validation([
        { field: 'body', message: 'send exactly one of accessToken, idToken or code' },
      ]);
    }
    if (provider === 'google') {
      if (body.accessToken) {
        throw ProblemException.validation([
          { field: 'accessToken', message: 'Google login takes an idToken or a code' },
        ]);
      }
      return this.google.profile(body);
    }
    if (body.idToken) {
      throw ProblemException.validation([
        { field: 'idToken', message: `${provider} login takes an accessToken or a code` },
      ]);
    }
    return provider === 'kakao' ? this.kakao.profile(body) : this.naver.profile(body);
  }
}
