import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mix32 } from './prng.js';

/**
 * Tokens the simulator issues and remembers. They are real HS256 JWTs carrying OpenIM's claims (`UserID`,
 * `PlatformID`, `exp`, `nbf`, `iat`) plus a random `jti`, signed with a key private to this simulator instance, so a
 * token from another instance (or a forged one) fails its signature check.
 */
export interface IssuedToken {
  token: string;
  userID: string;
  platformID: number;
  admin: boolean;
  /** Simulated expiry, seconds since the epoch. */
  exp: number;
  /** Expired on demand (`expireTokens()`), whatever `exp` says. */
  revoked: boolean;
}

export type TokenCheck =
  | { ok: true; token: IssuedToken }
  | { ok: false; errCode: TokenErrorCode; errMsg: string; errDlt: string };

/** OpenIM's token error codes (docs/openim-contract.md, error codes). */
export const TOKEN_ERRORS = {
  1501: 'TokenExpiredError',
  1502: 'TokenInvalidError',
  1503: 'TokenMalformedError',
  1507: 'TokenNotExistError',
} as const;
export type TokenErrorCode = keyof typeof TOKEN_ERRORS;

const JWT_HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export class TokenStore {
  private readonly key: Buffer;
  private readonly tokens = new Map<string, IssuedToken>();
  private readonly ttlSeconds: number;
  private readonly nowSeconds: () => number;

  constructor(secret: string, ttlSeconds: number, nowSeconds: () => number) {
    this.key = Buffer.concat([Buffer.from(secret), randomBytes(16)]);
    this.ttlSeconds = ttlSeconds;
    this.nowSeconds = nowSeconds;
  }

  get size(): number {
    return this.tokens.size;
  }

  issue(userID: string, platformID: number, admin: boolean): { token: string; expireTimeSeconds: number } {
    const iat = this.nowSeconds();
    const exp = iat + this.ttlSeconds;
    const claims = { UserID: userID, PlatformID: platformID, exp, nbf: iat - 300, iat, jti: randomBytes(9).toString('base64url') };
    const unsigned = `${JWT_HEADER}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const token = `${unsigned}.${this.sign(unsigned)}`;
    this.tokens.set(token, { token, userID, platformID, admin, exp, revoked: false });
    return { token, expireTimeSeconds: this.ttlSeconds };
  }

  check(token: string): TokenCheck {
    const known = this.tokens.get(token);
    if (known !== undefined) {
      if (known.revoked || known.exp <= this.nowSeconds()) {
        return { ok: false, errCode: 1501, errMsg: TOKEN_ERRORS[1501], errDlt: 'token is expired' };
      }
      return { ok: true, token: known };
    }
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p)) || !isJsonObject(parts[0]!) || !isJsonObject(parts[1]!)) {
      return { ok: false, errCode: 1503, errMsg: TOKEN_ERRORS[1503], errDlt: 'token contains an invalid number of segments' };
    }
    const expected = Buffer.from(this.sign(`${parts[0]!}.${parts[1]!}`));
    const given = Buffer.from(parts[2]!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      return { ok: false, errCode: 1502, errMsg: TOKEN_ERRORS[1502], errDlt: 'signature is invalid' };
    }
    return { ok: false, errCode: 1507, errMsg: TOKEN_ERRORS[1507], errDlt: 'token not exist' };
  }

  /** Expires every token issued so far; returns how many were still valid. */
  expireAll(): number {
    let n = 0;
    const now = this.nowSeconds();
    for (const t of this.tokens.values()) {
      if (!t.revoked && t.exp > now) n++;
      t.revoked = true;
    }
    return n;
  }

  private sign(unsigned: string): string {
    return createHmac('sha256', this.key).update(unsigned).digest('base64url');
  }
}

function isJsonObject(segment: string): boolean {
  try {
    const v: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  } catch {
    return false;
  }
}

/**
 * The token a client connection logged in with, as the live view shows it. It only has to look like OpenIM's (a JWT
 * with its claims); it is derived from the connection number so that no per-connection string is stored.
 */
export function connectionToken(userID: string, platformID: number, connectionNumber: number, since: number): string {
  const iat = Math.floor(since / 1000);
  const claims = `{"UserID":${JSON.stringify(userID)},"PlatformID":${platformID},"exp":${iat + 7_776_000},"nbf":${iat - 300},"iat":${iat}}`;
  // 43 base64url characters, like an HS256 signature, 5 characters from each 32-bit mix.
  let sig = '';
  let h = connectionNumber;
  for (let i = 0; sig.length < 43; i++) {
    h = mix32(h + i + 0x9e3779b9);
    for (let k = 0; k < 5 && sig.length < 43; k++) sig += BASE64URL_ALPHABET[(h >>> (k * 6)) & 63]!;
  }
  return `${JWT_HEADER}.${Buffer.from(claims).toString('base64url')}.${sig}`;
}

const BASE64URL_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** A connection ID the way OpenIM shows it (32 hex digits), derived from the connection number. */
export function connectionID(connectionNumber: number, gatewayPid: number): string {
  let out = '';
  let h = mix32(connectionNumber ^ Math.imul(gatewayPid, 0x27d4eb2d));
  for (let i = 0; i < 4; i++) {
    h = mix32(h + connectionNumber + i);
    out += h.toString(16).padStart(8, '0');
  }
  return out;
}
