/** Auth helpers for integration tests (any module). */

export interface TestLogin {
  accessToken: string;
  refreshToken: string;
  user: { id: string; nickname: string; providers: string[] };
}

/** Creates a guest account through POST /auth/guest; `baseUrl` is bootRole's `url`. */
export async function guestLogin(baseUrl: string): Promise<TestLogin> {
  const res = await fetch(`${baseUrl}/api/v1/auth/guest`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  if (res.status !== 201) {
    throw new Error(`guest login failed: ${res.status} ${await res.text()}`);
  }
  return (await res.json()) as TestLogin;
}

/** `{ authorization: 'Bearer …' }` for fetch headers. */
export function bearer(login: { accessToken: string } | string): Record<string, string> {
  return { authorization: `Bearer ${typeof login === 'string' ? login : login.accessToken}` };
}

/** The login family an access token belongs to (its `fam` claim; the deny list's `fam:` member). */
export function familyOf(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { fam: string })
    .fam;
}
