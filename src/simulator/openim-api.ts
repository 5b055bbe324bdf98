import { goJson } from './go-json.js';
import type { SimulatorCore } from './simulator-core.js';
import { connectionID, connectionToken } from './tokens.js';
import type { IssuedToken } from './tokens.js';

/**
 * OpenIM's HTTP API as the simulator serves it (docs/openim-contract.md, the status API): `POST` + JSON, headers `operationID` and `token`,
 * the envelope `{"errCode":0,"errMsg":"","errDlt":"","data":…}`, HTTP 200 for business errors, `data` left out on
 * errors, `null` for empty lists.
 */
export interface ApiReply {
  status: number;
  body: string;
  contentType: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** OpenIM's error codes and the names it puts in `errMsg`. */
const ERR = {
  args: [1001, 'ArgsError'],
  noPermission: [1002, 'NoPermissionError'],
  recordNotFound: [1004, 'RecordNotFoundError'],
} as const;
type ErrSpec = readonly [number, string];

export function envelopeOk(data: string): string {
  return `{"errCode":0,"errMsg":"","errDlt":"","data":${data}}`;
}

export function envelopeError(errCode: number, errMsg: string, errDlt: string): string {
  return `{"errCode":${errCode},"errMsg":${goJson(errMsg)},"errDlt":${goJson(errDlt)}}`;
}

function ok(data: string): ApiReply {
  return { status: 200, body: envelopeOk(data), contentType: JSON_TYPE };
}

function fail(spec: ErrSpec, errDlt: string, status = 200): ApiReply {
  return { status, body: envelopeError(spec[0], spec[1], errDlt), contentType: JSON_TYPE };
}

/** Thrown while decoding a request body the way Go's encoding/json would refuse it. */
class DecodeError extends Error {}

type Obj = Record<string, unknown>;

/** Go matches JSON keys to struct fields exactly first, then case-insensitively. */
function field(obj: Obj, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

function decodeBody(raw: string, goType: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new DecodeError(raw.trim() === '' ? 'EOF' : `invalid character in JSON: ${(e as Error).message}`);
  }
  if (v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new DecodeError(`json: cannot unmarshal ${typeName(v)} into Go value of type ${goType}`);
  return v as Obj;
}

function str(obj: Obj, name: string, goType: string): string {
  const v = field(obj, name);
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new DecodeError(`json: cannot unmarshal ${typeName(v)} into Go struct field ${goType}.${name} of type string`);
  return v;
}

function int32(obj: Obj, name: string, goType: string): number {
  const v = field(obj, name);
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
    throw new DecodeError(`json: cannot unmarshal ${typeName(v)} into Go struct field ${goType}.${name} of type int32`);
  }
  return v;
}

function strList(obj: Obj, name: string, goType: string): string[] {
  const v = field(obj, name);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DecodeError(`json: cannot unmarshal ${typeName(v)} into Go struct field ${goType}.${name} of type []string`);
  return v.map((x: unknown) => {
    if (x === null) return '';
    if (typeof x !== 'string') throw new DecodeError(`json: cannot unmarshal ${typeName(x)} into Go struct field ${goType}.${name} of type string`);
    return x;
  });
}

function obj(o: Obj, name: string, goType: string): Obj | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw new DecodeError(`json: cannot unmarshal ${typeName(v)} into Go struct field ${goType}.${name} of type sdkws.RequestPagination`);
  return v as Obj;
}

interface Request {
  core: SimulatorCore;
  body: string;
  /** The verified token, for routes that need one. */
  token: IssuedToken | undefined;
}

interface Route {
  /** Whether the route is on the token whitelist. */
  public: boolean;
  /** Malformed JSON answers HTTP 400 (gin's BindJSON) instead of 200 + errCode 1001 (a2r.Call). */
  bindJson400: boolean;
  goType: string;
  handle: (req: Request, body: Obj) => ApiReply;
}

const ROUTES: Record<string, Route> = {
  '/auth/get_admin_token': { public: true, bindJson400: false, goType: 'auth.GetAdminTokenReq', handle: getAdminToken },
  '/auth/user_token': { public: true, bindJson400: false, goType: 'auth.UserTokenReq', handle: userTokenLegacy },
  '/auth/get_user_token': { public: false, bindJson400: false, goType: 'auth.GetUserTokenReq', handle: getUserToken },
  '/user/get_users_online_status': {
    public: false,
    bindJson400: true,
    goType: 'msggateway.GetUsersOnlineStatusReq',
    handle: getUsersOnlineStatus,
  },
  '/user/get_users_status': { public: false, bindJson400: false, goType: 'user.GetUserStatusReq', handle: getUsersStatus },
  '/user/get_all_users_uid': { public: false, bindJson400: false, goType: 'user.GetAllUserIDReq', handle: getAllUsersUid },
  '/user/get_users': { public: false, bindJson400: false, goType: 'user.GetPaginationUsersReq', handle: getUsers },
};

export const OPENIM_ROUTES = Object.keys(ROUTES);

export function isOpenImRoute(path: string): boolean {
  return Object.hasOwn(ROUTES, path);
}

/**
 * Answers one request to an OpenIM route (path already known to be one). The middleware order is OpenIM's: the
 * operationID header, then the token (unless the route is whitelisted), then the body.
 */
export function handleOpenImRequest(
  core: SimulatorCore,
  path: string,
  headers: { operationID: string | undefined; token: string | undefined },
  body: string,
): ApiReply {
  const route = ROUTES[path]!;
  if (headers.operationID === undefined || headers.operationID === '') return fail(ERR.args, 'header must have operationID');
  let token: IssuedToken | undefined;
  if (!route.public) {
    if (headers.token === undefined || headers.token === '') return fail(ERR.args, 'header must have token');
    const check = core.tokens.check(headers.token);
    if (!check.ok) return fail([check.errCode, check.errMsg], check.errDlt);
    token = check.token;
  }
  let decoded: Obj;
  try {
    decoded = decodeBody(body, route.goType);
    return route.handle({ core, body, token }, decoded);
  } catch (e) {
    if (e instanceof DecodeError) return fail(ERR.args, e.message, route.bindJson400 ? 400 : 200);
    throw e;
  }
}

function isAdminID(core: SimulatorCore, userID: string): boolean {
  return userID === core.options.adminUserID || core.options.missingAdminUserIDs.includes(userID);
}

function tokenReply(t: { token: string; expireTimeSeconds: number }): ApiReply {
  return ok(`{"token":${goJson(t.token)},"expireTimeSeconds":${t.expireTimeSeconds}}`);
}

function issue(core: SimulatorCore, userID: string, platformID: number, admin: boolean): ApiReply {
  core.counters.tokens.issued++;
  return tokenReply(core.tokens.issue(userID, platformID, admin));
}

/** `{secret, userID}`: wrong secret 1002, userID not an admin 1001, admin user record missing 1004. */
function getAdminToken({ core }: Request, body: Obj): ApiReply {
  const secret = str(body, 'secret', 'auth.GetAdminTokenReq');
  const userID = str(body, 'userID', 'auth.GetAdminTokenReq');
  if (secret !== core.options.secret) return fail(ERR.noPermission, 'secret invalid');
  if (!isAdminID(core, userID)) return fail(ERR.args, `userID is error. userID=${userID}`);
  if (core.model.indexOf(userID) < 0) return fail(ERR.recordNotFound, `userID not found: ${userID}`);
  return issue(core, userID, 10, true);
}

/** The route of 3.8.0 and earlier: `{secret, platformID, userID}` gives a token for any registered user. */
function userTokenLegacy({ core }: Request, body: Obj): ApiReply {
  const secret = str(body, 'secret', 'auth.UserTokenReq');
  const platformID = int32(body, 'platformID', 'auth.UserTokenReq');
  const userID = str(body, 'userID', 'auth.UserTokenReq');
  if (secret !== core.options.secret) return fail(ERR.noPermission, 'secret invalid');
  if (core.model.indexOf(userID) < 0) return fail(ERR.recordNotFound, `userID not found: ${userID}`);
  return issue(core, userID, platformID, isAdminID(core, userID));
}

/** Admin only: `{platformID, userID}` gives an ordinary user's token (admins cannot be asked for). */
function getUserToken({ core, token }: Request, body: Obj): ApiReply {
  if (!token!.admin) return fail(ERR.noPermission, 'only app manager can get user token');
  const platformID = int32(body, 'platformID', 'auth.GetUserTokenReq');
  const userID = str(body, 'userID', 'auth.GetUserTokenReq');
  if (isAdminID(core, userID)) return fail(ERR.noPermission, "don't get Admin token");
  if (core.model.indexOf(userID) < 0) return fail(ERR.recordNotFound, `userID not found: ${userID}`);
  return issue(core, userID, platformID, false);
}

/**
 * The live view: one entry per requested userID (duplicates included, unknown users offline), one detail entry per
 * connection of the first gateway that knows the user; `data:null` for an empty request.
 */
function getUsersOnlineStatus({ core, token }: Request, body: Obj): ApiReply {
  const userIDs = strList(body, 'userIDs', 'msggateway.GetUsersOnlineStatusReq');
  if (!token!.admin) return fail(ERR.noPermission, 'only app manager can get users online status');
  if (userIDs.length === 0) return ok('null');
  const stringStatus = core.currentVersion() === '3.8.0';
  const online = stringStatus ? '"online"' : '1';
  const offline = stringStatus ? '"offline"' : '0';
  const parts: string[] = [];
  for (const userID of userIDs) {
    const idJson = goJson(userID);
    const user = core.model.indexOf(userID);
    const conns = user < 0 ? undefined : core.liveConnections(user);
    if (conns === undefined) {
      parts.push(`{"userID":${idJson},"status":${offline},"detailPlatformStatus":null}`);
      continue;
    }
    const details: string[] = [];
    for (const c of conns) {
      const pid = core.gateways[c.gateway]!.pid;
      details.push(
        `{"platformID":${c.platformID},"connID":"${connectionID(c.id, pid)}","isBackground":${c.background},` +
          `"token":"${connectionToken(userID, c.platformID, c.id, c.since)}"}`,
      );
    }
    parts.push(`{"userID":${idJson},"status":${online},"detailPlatformStatus":[${details.join(',')}]}`);
  }
  return ok(`[${parts.join(',')}]`);
}

/** The Redis view: per platform, `statusList`; offline users have `platformIDs:null`. */
function getUsersStatus({ core }: Request, body: Obj): ApiReply {
  str(body, 'userID', 'user.GetUserStatusReq');
  const userIDs = strList(body, 'userIDs', 'user.GetUserStatusReq');
  if (userIDs.length === 0) return ok('{"statusList":null}');
  const nowSeconds = Math.floor(core.clock.now() / 1000);
  const parts = userIDs.map((userID) => {
    const user = core.model.indexOf(userID);
    const platforms = user < 0 ? [] : core.model.redisPlatforms(user, nowSeconds);
    return platforms.length === 0
      ? `{"userID":${goJson(userID)},"status":0,"platformIDs":null}`
      : `{"userID":${goJson(userID)},"status":1,"platformIDs":[${platforms.join(',')}]}`;
  });
  return ok(`{"statusList":[${parts.join(',')}]}`);
}

interface Page {
  skip: number;
  limit: number;
}

/** Skip/limit paging from `pagination` (pageNumber from 1); an invalid one is an ArgsError. */
function readPage(body: Obj, goType: string): Page | ApiReply {
  const p = obj(body, 'pagination', goType);
  if (p === undefined) return fail(ERR.args, 'pagination is empty');
  const pageNumber = int32(p, 'pageNumber', 'sdkws.RequestPagination');
  const showNumber = int32(p, 'showNumber', 'sdkws.RequestPagination');
  if (pageNumber < 1) return fail(ERR.args, 'pageNumber is invalid');
  if (showNumber < 1) return fail(ERR.args, 'showNumber is invalid');
  return { skip: (pageNumber - 1) * showNumber, limit: showNumber };
}

/** Every user, the admin first (insertion order), `total` counting all; past the end `userIDs:null`. */
function getAllUsersUid({ core }: Request, body: Obj): ApiReply {
  const page = readPage(body, 'user.GetAllUserIDReq');
  if ('body' in page) return page;
  const total = core.model.registeredUsers;
  const end = Math.min(total, page.skip + page.limit);
  if (page.skip >= end) return ok(`{"total":${total},"userIDs":null}`);
  const ids: string[] = [];
  for (let i = page.skip; i < end; i++) ids.push(goJson(core.model.userIDOf(i)));
  return ok(`{"total":${total},"userIDs":[${ids.join(',')}]}`);
}

/** Ordinary users only (admin token required), optionally filtered by a userID or nickname substring. */
function getUsers({ core, token }: Request, body: Obj): ApiReply {
  if (!token!.admin) return fail(ERR.noPermission, 'only app manager can get users');
  const page = readPage(body, 'user.GetPaginationUsersReq');
  if ('body' in page) return page;
  const userIDFilter = str(body, 'userID', 'user.GetPaginationUsersReq');
  const nickFilter = str(body, 'nickName', 'user.GetPaginationUsersReq');
  const n = core.model.userCount;
  const userJson = (i: number): string =>
    `{"userID":${goJson(core.model.userIDOf(i))},"nickname":${goJson(nickname(i))},"faceURL":"","ex":"",` +
    `"createTime":${core.clock.startTime - 86_400_000 + i},"appMangerLevel":1,"globalRecvMsgOpt":0}`;
  const users: string[] = [];
  let total: number;
  if (userIDFilter === '' && nickFilter === '') {
    total = n;
    for (let i = page.skip + 1; i <= Math.min(n, page.skip + page.limit); i++) users.push(userJson(i));
  } else {
    total = 0;
    for (let i = 1; i <= n; i++) {
      const match =
        (userIDFilter !== '' && core.model.userIDOf(i).includes(userIDFilter)) ||
        (nickFilter !== '' && nickname(i).includes(nickFilter));
      if (!match) continue;
      if (total >= page.skip && users.length < page.limit) users.push(userJson(i));
      total++;
    }
  }
  return ok(`{"total":${total},"users":${users.length === 0 ? 'null' : `[${users.join(',')}]`}}`);
}

function nickname(i: number): string {
  return `User ${i}`;
}
