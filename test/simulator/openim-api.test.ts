import { describe, expect, it } from 'vitest';
import { adminToken, authed, post, simulator } from './helpers.js';

const quiet = { workload: false as const };

describe('the simulated OpenIM API', () => {
  describe('POST /auth/get_admin_token', () => {
    it('returns a JWT-looking token and a 90-day duration in the exact envelope', async () => {
      const sim = await simulator(quiet);
      const r = await post(sim, '/auth/get_admin_token', { secret: 'openIM123', userID: 'imAdmin' });
      expect(r.status).toBe(200);
      expect(r.contentType).toBe('application/json; charset=utf-8');
      expect(r.text).toMatch(
        /^\{"errCode":0,"errMsg":"","errDlt":"","data":\{"token":"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+","expireTimeSeconds":7776000\}\}$/,
      );
    });

    it('issues a different token on every call', async () => {
      const sim = await simulator(quiet);
      expect(await adminToken(sim)).not.toBe(await adminToken(sim));
    });

    it('answers a wrong secret with errCode 1002 and no data, still HTTP 200', async () => {
      const sim = await simulator(quiet);
      const r = await post(sim, '/auth/get_admin_token', { secret: 'nope', userID: 'imAdmin' });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ errCode: 1002, errMsg: 'NoPermissionError', errDlt: expect.any(String) as string });
      expect(r.text).not.toContain('"data"');
    });

    it('answers a userID that is not an admin with errCode 1001', async () => {
      const sim = await simulator(quiet);
      const r = await post(sim, '/auth/get_admin_token', { secret: 'openIM123', userID: 'u1' });
      expect(r.json?.errCode).toBe(1001);
    });

    it('answers an admin whose user record is missing with errCode 1004', async () => {
      const sim = await simulator({ ...quiet, missingAdminUserIDs: ['ghostAdmin'] });
      const r = await post(sim, '/auth/get_admin_token', { secret: 'openIM123', userID: 'ghostAdmin' });
      expect(r.json?.errCode).toBe(1004);
    });

    it('uses the configured secret and admin userID', async () => {
      const sim = await simulator({ ...quiet, secret: 's3cret', adminUserID: 'boss' });
      expect(sim.secret).toBe('s3cret');
      const r = await post(sim, '/auth/get_admin_token', { secret: 's3cret', userID: 'boss' });
      expect(r.json?.errCode).toBe(0);
    });
  });

  describe('headers every route requires', () => {
    it('answers a missing operationID header with errCode 1001 (HTTP 200)', async () => {
      const sim = await simulator(quiet);
      const r = await post(sim, '/auth/get_admin_token', { secret: 'openIM123', userID: 'imAdmin' }, {});
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ errCode: 1001, errMsg: 'ArgsError' });
      expect(r.json).not.toHaveProperty('data');
    });

    it('answers a missing token header with errCode 1001', async () => {
      const sim = await simulator(quiet);
      const r = await post(sim, '/user/get_users_online_status', { userIDs: ['u1'] });
      expect(r.status).toBe(200);
      expect(r.json?.errCode).toBe(1001);
    });

    it('answers a token it never issued with 1507, a forged signature with 1502 and garbage with 1503', async () => {
      const sim = await simulator(quiet);
      const other = await simulator(quiet);
      const foreign = await adminToken(other);
      const real = await adminToken(sim);
      const [h, p] = real.split('.');
      const unknownSigned = await authed(sim, foreign, '/user/get_users_online_status', { userIDs: ['u1'] });
      expect(unknownSigned.json?.errCode).toBe(1502);
      const garbage = await authed(sim, 'not-a-token', '/user/get_users_online_status', { userIDs: ['u1'] });
      expect(garbage.json?.errCode).toBe(1503);
      const tampered = await authed(sim, `${h!}.${p!}.AAAA`, '/user/get_users_online_status', { userIDs: ['u1'] });
      expect(tampered.json?.errCode).toBe(1502);
    });

    it('answers every token with 1501 once tokens are expired, and a new token works', async () => {
      const sim = await simulator(quiet);
      const old = await adminToken(sim);
      expect(sim.expireTokens()).toBe(1);
      const r = await authed(sim, old, '/user/get_users_online_status', { userIDs: ['u1'] });
      expect(r.json).toMatchObject({ errCode: 1501, errMsg: 'TokenExpiredError' });
      const fresh = await adminToken(sim);
      expect((await authed(sim, fresh, '/user/get_users_online_status', { userIDs: ['u1'] })).json?.errCode).toBe(0);
    });

    it('lets tokens expire after tokenTtlSeconds of simulated time', async () => {
      const sim = await simulator({ ...quiet, tokenTtlSeconds: 60, speed: 2000 });
      const token = await adminToken(sim);
      const issuedAt = sim.now();
      await new Promise((r) => setTimeout(r, 80)); // 160 simulated seconds
      expect(sim.now() - issuedAt).toBeGreaterThan(60_000);
      expect((await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1'] })).json?.errCode).toBe(1501);
    });
  });

  describe('POST /user/get_users_online_status', () => {
    it('lists one detail entry per connection, and offline users with status 0 and a null detail list', async () => {
      const sim = await simulator({ ...quiet, users: 5, gateways: 1 });
      sim.connect('u1', 5);
      sim.connect('u1', 5);
      sim.connect('u1', 2);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1', 'u2'] });
      expect(r.status).toBe(200);
      expect(r.text).toMatch(
        /^\{"errCode":0,"errMsg":"","errDlt":"","data":\[\{"userID":"u1","status":1,"detailPlatformStatus":\[(\{"platformID":[25],"connID":"[0-9a-f]{32}","isBackground":false,"token":"eyJ[^"]+"\},?){3}\]\},\{"userID":"u2","status":0,"detailPlatformStatus":null\}\]\}$/,
      );
      const data = r.json?.data as { detailPlatformStatus: { platformID: number; connID: string }[] }[];
      expect(data[0]!.detailPlatformStatus.map((d) => d.platformID)).toEqual([5, 5, 2]);
      expect(new Set(data[0]!.detailPlatformStatus.map((d) => d.connID)).size).toBe(3);
    });

    it('answers an empty userIDs list with data null', async () => {
      const sim = await simulator(quiet);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_online_status', { userIDs: [] });
      expect(r.text).toBe('{"errCode":0,"errMsg":"","errDlt":"","data":null}');
    });

    it('answers unknown and repeated userIDs as asked, unknown ones offline', async () => {
      const sim = await simulator({ ...quiet, users: 3 });
      sim.connect('u1', 1);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1', 'nobody', 'u1'] });
      const data = r.json?.data as { userID: string; status: number }[];
      expect(data.map((d) => [d.userID, d.status])).toEqual([
        ['u1', 1],
        ['nobody', 0],
        ['u1', 1],
      ]);
    });

    it('shows the background flag of a connection', async () => {
      const sim = await simulator({ ...quiet, users: 3 });
      sim.connect('u1', 2);
      expect(sim.setBackground('u1', 2, true)).toBe(1);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1'] });
      expect(r.text).toContain('"isBackground":true');
    });

    it('refuses a non-admin token with errCode 1002', async () => {
      const sim = await simulator(quiet);
      const admin = await adminToken(sim);
      const userToken = await authed(sim, admin, '/auth/get_user_token', { platformID: 1, userID: 'u1' });
      const token = (userToken.json?.data as { token: string }).token;
      const r = await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1'] });
      expect(r.json).toMatchObject({ errCode: 1002, errMsg: 'NoPermissionError' });
    });

    it('answers malformed JSON with HTTP 400 and errCode 1001', async () => {
      const sim = await simulator(quiet);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_online_status', '{"userIDs":[');
      expect(r.status).toBe(400);
      expect(r.json?.errCode).toBe(1001);
      const wrongType = await authed(sim, token, '/user/get_users_online_status', { userIDs: 'u1' });
      expect(wrongType.status).toBe(400);
    });

    it('answers with string statuses in 3.8.0 mode', async () => {
      const sim = await simulator({ ...quiet, version: '3.8.0' });
      sim.connect('u1', 5);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1', 'u2'] });
      const data = r.json?.data as { status: unknown }[];
      expect(data.map((d) => d.status)).toEqual(['online', 'offline']);
    });

    it('shows a user connected to two gateways with the first gateway’s connections only', async () => {
      const sim = await simulator({ ...quiet, gateways: 2 });
      sim.connect('u1', 2, 1);
      sim.connect('u1', 5, 0);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u1'] });
      const data = r.json?.data as { detailPlatformStatus: { platformID: number }[] }[];
      expect(data[0]!.detailPlatformStatus.map((d) => d.platformID)).toEqual([5]);
    });
  });

  describe('POST /user/get_users_status', () => {
    it('answers the Redis view per platform, offline users with platformIDs null', async () => {
      const sim = await simulator({ ...quiet, users: 3, gateways: 1, speed: 50 });
      sim.connect('u1', 5);
      sim.connect('u1', 5);
      sim.connect('u1', 1);
      await sim.quiesce({ timeoutMs: 5000 });
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_status', { userID: 'imAdmin', userIDs: ['u1', 'u2'] });
      expect(r.text).toBe(
        '{"errCode":0,"errMsg":"","errDlt":"","data":{"statusList":[{"userID":"u1","status":1,"platformIDs":[1,5]},{"userID":"u2","status":0,"platformIDs":null}]}}',
      );
    });

    it('lags behind the live view until the gateway flushes', async () => {
      // At this speed the first flush is at least one real second away.
      const sim = await simulator({ ...quiet, users: 3, gateways: 1, speed: 0.001 });
      const token = await adminToken(sim);
      sim.connect('u2', 2);
      const live = await authed(sim, token, '/user/get_users_online_status', { userIDs: ['u2'] });
      const redis = await authed(sim, token, '/user/get_users_status', { userID: 'imAdmin', userIDs: ['u2'] });
      expect((live.json?.data as { status: number }[])[0]!.status).toBe(1);
      expect(redis.text).toContain('{"userID":"u2","status":0,"platformIDs":null}');
    });

    it('answers malformed JSON with HTTP 200 and errCode 1001', async () => {
      const sim = await simulator(quiet);
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users_status', 'nope');
      expect(r.status).toBe(200);
      expect(r.json?.errCode).toBe(1001);
    });
  });

  describe('POST /user/get_all_users_uid', () => {
    it('pages with skip/limit, the admin first, and answers userIDs null past the end', async () => {
      const sim = await simulator({ ...quiet, users: 5 });
      const token = await adminToken(sim);
      const page = async (pageNumber: number) =>
        (await authed(sim, token, '/user/get_all_users_uid', { pagination: { pageNumber, showNumber: 4 } })).text;
      expect(await page(1)).toBe('{"errCode":0,"errMsg":"","errDlt":"","data":{"total":6,"userIDs":["imAdmin","u1","u2","u3"]}}');
      expect(await page(2)).toBe('{"errCode":0,"errMsg":"","errDlt":"","data":{"total":6,"userIDs":["u4","u5"]}}');
      expect(await page(3)).toBe('{"errCode":0,"errMsg":"","errDlt":"","data":{"total":6,"userIDs":null}}');
    });

    it('answers a missing or invalid pagination with errCode 1001', async () => {
      const sim = await simulator(quiet);
      const token = await adminToken(sim);
      expect((await authed(sim, token, '/user/get_all_users_uid', {})).json?.errCode).toBe(1001);
      const zero = await authed(sim, token, '/user/get_all_users_uid', { pagination: { pageNumber: 0, showNumber: 10 } });
      expect(zero.json?.errCode).toBe(1001);
    });
  });

  describe('POST /user/get_users', () => {
    it('lists ordinary users only, paged, with their profile fields', async () => {
      const sim = await simulator({ ...quiet, users: 3 });
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users', { pagination: { pageNumber: 1, showNumber: 2 }, userID: '', nickName: '' });
      const data = r.json?.data as { total: number; users: { userID: string; nickname: string }[] };
      expect(data.total).toBe(3);
      expect(data.users.map((u) => u.userID)).toEqual(['u1', 'u2']);
      expect(Object.keys(data.users[0]!)).toEqual(['userID', 'nickname', 'faceURL', 'ex', 'createTime', 'appMangerLevel', 'globalRecvMsgOpt']);
      const past = await authed(sim, token, '/user/get_users', { pagination: { pageNumber: 3, showNumber: 2 } });
      expect(past.text).toBe('{"errCode":0,"errMsg":"","errDlt":"","data":{"total":3,"users":null}}');
    });

    it('filters by userID', async () => {
      const sim = await simulator({ ...quiet, users: 12 });
      const token = await adminToken(sim);
      const r = await authed(sim, token, '/user/get_users', { pagination: { pageNumber: 1, showNumber: 10 }, userID: 'u1' });
      const data = r.json?.data as { total: number; users: { userID: string }[] };
      expect(data.users.map((u) => u.userID)).toEqual(['u1', 'u10', 'u11', 'u12']);
      expect(data.total).toBe(4);
    });
  });

  describe('routes that do not exist', () => {
    it('answers 404 "404 page not found" like gin, also for GET on an API route', async () => {
      const sim = await simulator(quiet);
      const missing = await post(sim, '/user/nope', {});
      expect(missing.status).toBe(404);
      expect(missing.text).toBe('404 page not found');
      const get = await fetch(`${sim.apiUrl}/user/get_users_online_status`);
      expect(get.status).toBe(404);
    });
  });
});
