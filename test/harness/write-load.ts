import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { isStoreUnavailable, LatchkeyError } from "../../src/core/errors.js";
import type { SessionManager } from "../../src/core/session-manager.js";
import type { SessionIndexReader } from "./session-index.js";

/**
 * The load of the failover tests: `workers` clients, each viewing its own session (every view counts,
 * so a lost or doubled increment shows per session), logging in every tenth call, and logging in as one
 * of the next users that `startRevoking` logs out everywhere while the fault is under way; then
 * `stopAndVerify()` reads everything back and reports what users would have seen.
 *
 * @example
 * const load = await startWriteLoad(sessions, { workers: 16, index: redisSessionIndex(() => masters) });
 * const revoking = load.startRevoking();
 * await injectFault();
 * await load.untilServing();
 * await revoking.stop();
 * const report = await load.stopAndVerify();
 * assertFailoverSafe(report);
 */
export interface WriteLoadOptions {
  workers: number;
  /**
   * The user indexes read straight from Redis: a login must be in its index before its session is
   * loaded (see `missingFromIndex`).
   */
  index: SessionIndexReader;
  /** Users of the viewing sessions are `${userPrefix}viewer-N`, of the logins `${userPrefix}login-N-I`. */
  userPrefix?: string;
  /**
   * How many of the users `startRevoking` will log out next (`${userPrefix}revoked-K`, each once) the
   * workers log in as at a time. Default 16.
   */
  revokedUsers?: number;
}

export interface WriteLoadReport {
  /** From the first failed call to the last one, in ms (0 when none failed). */
  unavailableWindowMs: number;
  /** Calls that took longer than 2 s to be answered, either way. */
  answersOver2s: number;
  viewsAcknowledged: number;
  viewsFailed: number;
  /** Acknowledged increments missing from the counters (a lost viewing session loses all of its own). */
  lost: number;
  /** Viewing sessions (created before the fault) that no longer load. */
  viewersLost: number;
  /** Increments counted beyond the acknowledged and failed calls: applied twice. */
  doubled: number;
  loginsAcknowledged: number;
  /** Acknowledged logins whose session is gone: not stored, or listed in its index but no longer loading. */
  loginsLost: number;
  /**
   * Acknowledged logins whose session is stored but not listed in its user's index (both read straight
   * from Redis, before any load): sessions "log out everywhere" would miss (the store's load ends such
   * a session at its next view, which is why they are not loaded to find them).
   */
  missingFromIndex: number;
  /** Users revoked by `startRevoking` (one acknowledged call each), and its calls that failed. */
  revocationsAcknowledged: number;
  revocationsFailed: number;
  /**
   * Sessions of the revoked users that an acknowledged `destroyForUser` had to end: created (by the
   * manager's clock, `session.createdAt`) at or before the call was made. The library promises to end
   * every session that existed or was being created when it was called; a login that began after the
   * call may be ordered either side of it, so it is not counted. Each user has one acknowledged
   * revocation, so that no later one ends what a lost one left.
   */
  sessionsRevoked: number;
  /** Of `sessionsRevoked`, those that still load: a revocation acknowledged during the fault, then lost. */
  outlivedRevocation: number;
  /** Logins that still load after `destroyForUser` of their user, called after the fault had healed. */
  outlivedRevocationAfterHeal: number;
  /** The first error that was not StoreUnavailableError (or REVOKED for a revoked user's login), if any. */
  unexpected: unknown;
  summary: string;
}

export interface Revoking {
  /**
   * Revokes no new user, tries the failed ones again until each is acknowledged (at most `timeoutMs`,
   * default 10 s), and resolves once the calls under way have been answered.
   */
  stop(timeoutMs?: number): Promise<void>;
}

export interface WriteLoad {
  /**
   * Resolves once every client has had a call succeed after this one was made (the store serves every
   * session again, on every master); rejects after `timeoutMs`.
   */
  untilServing(timeoutMs?: number): Promise<void>;
  /**
   * Starts two clients that call `destroyForUser` for the next revoked user, each user until one call
   * is acknowledged (a failed one is tried again later, and by `stop()`), each call bounded by the
   * store's command timeout, with a 10 ms pause after a success and 20 ms after a failure.
   * Start it with the fault: the revocations a failing master acknowledges in its last moments are the
   * ones a failover can lose.
   */
  startRevoking(): Revoking;
  /** Stops the clients, then reads every session back (through `reader`, default the load's manager). */
  stopAndVerify(reader?: SessionManager<{ visits: "integer" }>): Promise<WriteLoadReport>;
  /** Stops the clients without verifying (for a failing test's cleanup). Safe to call twice. */
  stop(): Promise<void>;
}

interface Tally {
  acknowledged: number;
  failed: number;
}

const REVOKING_CLIENTS = 2;

export async function startWriteLoad(
  sessions: SessionManager<{ visits: "integer" }>,
  { workers, index, userPrefix = "", revokedUsers = 16 }: WriteLoadOptions,
): Promise<WriteLoad> {
  // The viewers' sessions exist before the load starts (a slow first write is retried here, not
  // counted), so that every counter is compared from zero.
  const viewers: { token: string; tally: Tally }[] = [];
  for (let n = 0; n < workers; n++) {
    for (let attempt = 0; ; attempt++) {
      try {
        const { token } = await sessions.create(`${userPrefix}viewer-${n}`);
        viewers.push({ token, tally: { acknowledged: 0, failed: 0 } });
        break;
      } catch (error) {
        if (!isStoreUnavailable(error) || attempt >= 20) throw error;
        await sleep(100);
      }
    }
  }
  const revokedUser = (k: number) => `${userPrefix}revoked-${k}`;
  // Each user has one acknowledged revocation: a later one would end what a lost one left, and hide it.
  let nextRevoked = 0;
  const logins: { token: string; userId: string }[] = [];
  const revokedLogins: { token: string; userId: string; createdAt: number }[] = [];
  /** Per user, when its acknowledged `destroyForUser` was called (our clock, read before the call). */
  const revocations = new Map<string, number>();
  let revocationsFailed = 0;
  let unexpected: unknown;
  let running = true;
  let firstFailure: number | undefined;
  let lastFailure: number | undefined;
  let answersOver2s = 0;

  const lastSuccess = viewers.map(() => 0);
  const worker = async (n: number): Promise<void> => {
    const viewer = viewers[n] as { token: string; tally: Tally };
    let i = 0;
    while (running) {
      i += 1;
      const started = Date.now();
      try {
        if (i % 10 === 0) {
          // A user per login: a user's session cap (maxSessionsPerUser) must not end any of them.
          const userId = `${userPrefix}login-${n}-${i}`;
          logins.push({ token: (await sessions.create(userId)).token, userId });
        } else if (i % 10 === 5) {
          const userId = revokedUser(nextRevoked + ((n + Math.floor(i / 10)) % revokedUsers));
          try {
            const { token, session } = await sessions.create(userId);
            revokedLogins.push({ token, userId, createdAt: session.createdAt.getTime() });
          } catch (error) {
            // Refused because a revocation of the user was under way: what the library promises.
            if (!(error instanceof LatchkeyError && error.code === "REVOKED")) throw error;
          }
        } else {
          const session = await sessions.load(viewer.token, { increment: { visits: 1 } });
          if (session === null) throw new Error(`the session of viewer ${n} vanished`);
          viewer.tally.acknowledged += 1;
        }
        lastSuccess[n] = Date.now();
      } catch (error) {
        if (!isStoreUnavailable(error)) unexpected ??= error;
        firstFailure ??= Date.now();
        lastFailure = Date.now();
        if (i % 10 !== 0 && i % 10 !== 5) viewer.tally.failed += 1;
        await sleep(20);
      } finally {
        if (Date.now() - started > 2000) answersOver2s += 1;
      }
    }
  };
  const clients = Promise.all(viewers.map((_, n) => worker(n)));
  let revokers: Promise<void>[] = [];
  const stop = async (): Promise<void> => {
    running = false;
    await clients;
    await Promise.all(revokers);
  };

  return {
    stop,
    async untilServing(timeoutMs = 30_000) {
      const since = Date.now();
      while (!lastSuccess.every((at) => at > since)) {
        if (Date.now() - since > timeoutMs) {
          const waiting = lastSuccess.filter((at) => at <= since).length;
          throw new Error(
            `${waiting} of ${viewers.length} clients had no call succeed within ${timeoutMs} ms`,
          );
        }
        await sleep(20);
      }
    },
    startRevoking() {
      let revoking = true;
      let draining = false;
      /** Users whose revocation failed (its effect unknown), tried again until one is acknowledged. */
      const failed: string[] = [];
      const revoker = async (): Promise<void> => {
        for (let attempt = 0; revoking && running; attempt++) {
          // Every other call a new user: the users on the masters still up keep being revoked while
          // those of a master that is down wait for its replica. Once stopping, only those.
          const retry = draining || attempt % 2 === 1 ? failed.shift() : undefined;
          if (draining && retry === undefined) return;
          const userId = retry ?? revokedUser(nextRevoked++);
          const calledAt = Date.now();
          try {
            await sessions.destroyForUser(userId);
            revocations.set(userId, calledAt);
            // A few revocations per 10 ms, without crowding out the views; the workers' logins spread
            // over the next users, a dozen or so for each before it is revoked.
            await sleep(10);
          } catch (error) {
            if (!isStoreUnavailable(error)) unexpected ??= error;
            revocationsFailed += 1;
            failed.push(userId);
            await sleep(20);
          } finally {
            if (Date.now() - calledAt > 2000) answersOver2s += 1;
          }
        }
      };
      const these = Array.from({ length: REVOKING_CLIENTS }, () => revoker());
      revokers = [...revokers, ...these];
      return {
        async stop(timeoutMs = 10_000) {
          // As a user would, each revocation that failed is tried again until acknowledged (the users
          // logged in before the fault are among them), for at most `timeoutMs`.
          draining = true;
          const timer = setTimeout(() => {
            revoking = false;
          }, timeoutMs);
          await Promise.all(these);
          clearTimeout(timer);
          revoking = false;
        },
      };
    },
    async stopAndVerify(reader = sessions) {
      await stop();
      let lost = 0;
      let doubled = 0;
      let viewersLost = 0;
      let viewsAcknowledged = 0;
      let viewsFailed = 0;
      for (const { token, tally } of viewers) {
        const session = await reader.load(token);
        if (session === null) viewersLost += 1;
        const visits = session?.data.visits ?? 0;
        viewsAcknowledged += tally.acknowledged;
        viewsFailed += tally.failed;
        lost += Math.max(0, tally.acknowledged - visits);
        doubled += Math.max(0, visits - tally.acknowledged - tally.failed);
      }
      let loginsLost = 0;
      let missingFromIndex = 0;
      for (const login of logins) {
        // Read straight from Redis, not loaded: a load ends a session that its index does not list (it
        // could not be revoked), which would turn "missing from its index" into "lost".
        const { listed, stored } = await index.look(login.userId, login.token);
        if (!listed) {
          if (stored) missingFromIndex += 1;
          else loginsLost += 1;
        } else if ((await reader.load(login.token)) === null) loginsLost += 1;
      }
      // Before any other revocation: only those made while the fault was under way may have ended these.
      let sessionsRevoked = 0;
      let outlivedRevocation = 0;
      for (const login of revokedLogins) {
        const calledAt = revocations.get(login.userId);
        // The manager reads its clock after we read ours: a call made at or after createdAt ran with a
        // `now` at or after it too, so the session was ended, or its creation refused (REVOKED).
        if (calledAt === undefined || calledAt < login.createdAt) continue;
        sessionsRevoked += 1;
        if ((await reader.load(login.token)) !== null) outlivedRevocation += 1;
      }
      // "Log out everywhere" once healed must reach every login that survived, wherever its index lives.
      for (const userId of new Set(logins.map((login) => login.userId))) await reader.destroyForUser(userId);
      let outlivedRevocationAfterHeal = 0;
      for (const login of logins)
        if ((await reader.load(login.token)) !== null) outlivedRevocationAfterHeal += 1;

      const revocationsAcknowledged = revocations.size;
      const unavailableWindowMs =
        firstFailure === undefined ? 0 : (lastFailure as number) - (firstFailure as number);
      const summary =
        `503 window ${unavailableWindowMs} ms, ${answersOver2s} answers over 2 s; views: ` +
        `${viewsAcknowledged} acknowledged, ${viewsFailed} failed, ${lost} lost, ${doubled} doubled, ` +
        `${viewersLost} of ${viewers.length} sessions lost; ` +
        `logins: ${logins.length} acknowledged, ${loginsLost} lost, ${missingFromIndex} missing from their ` +
        `index; revoked from the fault on: ${revocationsAcknowledged} users (${revocationsFailed} calls ` +
        `failed and were tried again), ${outlivedRevocation} of the ${sessionsRevoked} sessions they ` +
        `ended outlived them; ${outlivedRevocationAfterHeal} logins outlived revocation after the fault`;
      return {
        unavailableWindowMs,
        answersOver2s,
        viewsAcknowledged,
        viewsFailed,
        lost,
        viewersLost,
        doubled,
        loginsAcknowledged: logins.length,
        loginsLost,
        missingFromIndex,
        revocationsAcknowledged,
        revocationsFailed,
        sessionsRevoked,
        outlivedRevocation,
        outlivedRevocationAfterHeal,
        unexpected,
        summary,
      };
    },
  };
}

/** Each message names the figure first, so that a failure (and the harness's own test) says which. */
const assertZero = (report: WriteLoadReport, figure: keyof WriteLoadReport): void =>
  assert.equal(report[figure], 0, `${figure} must be 0: ${report.summary}`);

/**
 * What every failover must keep, planned or not, crash or not: only StoreUnavailableError, load served
 * before and after, no write applied twice, every surviving login in its user's index, revocations
 * made during the fault with sessions to end (so that `assertNothingLost` checks something), every
 * login ended by "log out everywhere" once healed, and no answer over 2 s.
 */
export function assertFailoverSafe(report: WriteLoadReport): void {
  assert.equal(report.unexpected, undefined, `only StoreUnavailableError: ${String(report.unexpected)}`);
  assert.ok(report.viewsAcknowledged > 0 && report.loginsAcknowledged > 0, report.summary);
  assertZero(report, "doubled");
  assertZero(report, "missingFromIndex");
  assert.ok(
    report.sessionsRevoked > 0,
    `sessionsRevoked: no revocation had a session to end: ${report.summary}`,
  );
  assertZero(report, "outlivedRevocationAfterHeal");
  assertZero(report, "answersOver2s");
}

/**
 * What a failover that keeps every acknowledged write must show: no view, login or revocation (one
 * acknowledged during the fault is a write too) lost.
 */
export function assertNothingLost(report: WriteLoadReport): void {
  assertZero(report, "outlivedRevocation");
  assertZero(report, "lost");
  assertZero(report, "viewersLost");
  assertZero(report, "loginsLost");
}
