import type { CrawlDeps } from './crawl-deps';
import { failRun, finishRunIfComplete, publishProgress } from './finish-run';
import type { UserBatchMessage } from './messages';
import type { RunCounters } from './crawl-runs';
import { ZERO_COUNTERS, addCounters } from './crawl-runs';
import { settleTokenFailure } from './token-outcome';
import { describeFailure } from './describe-failure';
import { newAttemptId } from './run-id';
import { GraphError } from '../errors';
import type { DriveSkip } from '../graph/drive-answer';
import type { GraphCounters } from '../graph/graph-types';
import type { DrivePage, TenantGraph } from '../graph/tenant-graph';
import type { DriveOwner, PreparedRow, PreparedUser, UserRewrite } from './drive-item-store';
import { prepareRows } from './drive-item-store';
import { FORBIDDEN_USERS_FOR_PROOF, provePermissions } from '../tenants/prove-permissions';

/** Users whose first pages travel in one `$batch` round trip (Graph's limit). */
const GRAPH_BATCH = 20;
/**
 * Users with whole listings reconciled together: their index rows go in one transaction, so listings are gathered
 * over several round trips (most users of a round trip may have nothing to store) while memory stays bounded.
 */
const RECONCILE_USERS = 20;
/**
 * Rows of one paged user held before the first is written: a user whose listing fails before this many were read
 * keeps every row exactly as it was; past it, rows are written as pages arrive, so memory stays bounded whatever
 * the root holds.
 */
const ROWS_BEFORE_WRITING = 5_000;

/** The role both probes need: the crawl concludes a permission is missing only on proof, never on a hint. */
const NO_HINT_AGAINST: ReadonlySet<string> = new Set(['User.Read.All', 'Files.Read.All']);

type User = UserBatchMessage['users'][number];

/** Raised when every user of a round answered `403` and the tenant's permission then proved missing. */
class PermissionMissing extends Error {
  override readonly name = 'PermissionMissing';
  constructor(readonly roles: readonly string[]) {
    super(`Permission missing: ${roles.join(', ')}`);
  }
}

/**
 * The batch worker: lists each user's drive root (first pages through `$batch`, then every further page), and
 * settles each user as crawled, without a drive or skipped (docs/drive-answers.md). One user never fails the
 * batch: only what stops the whole tenant (its token, storage, a permission proved missing) throws, and the queue
 * retries the batch; reconciling again converges to the same rows. The batch's counters are recorded once, and
 * the run ends if this was its last piece.
 */
export async function crawlUserBatch(deps: CrawlDeps, message: UserBatchMessage): Promise<void> {
  const { tenantId, runId } = message;
  const run = await deps.runs.get(tenantId, runId);
  if (!run || run.status !== 'running') {
    deps.logger.info('batch for a finished run ignored', { tenantId, runId, batch: message.batch });
    return;
  }
  // Names this attempt's bookkeeping: its Graph requests count once whichever attempt records the batch.
  const attempt = newAttemptId(String(message.batch).padStart(6, '0'), deps.now());
  const deadline = AbortSignal.timeout(deps.settings.batchDeadlineMs);
  const graph = deps.graphFor(tenantId, { kind: 'drives', licensedUsers: message.licensedUsers }, deadline);
  const crawl = new BatchCrawl(deps, message, graph);
  const yieldAt = Date.now() + deps.settings.batchYieldMs;

  let remaining: User[];
  try {
    remaining = await crawl.run(yieldAt);
    if (remaining.length > 0) {
      // Queued before this piece is recorded: a crash in between redoes this piece (idempotent), never loses the
      // remaining users. A duplicate continuation is recorded once (its piece marker).
      const part = (message.part ?? 0) + 1;
      await deps.enqueueBatch({ ...message, part, users: remaining });
      deps.logger.info('batch continues in a new message', {
        tenantId,
        runId,
        batch: message.batch,
        part,
        users: remaining.length,
      });
    }
  } catch (error) {
    if (error instanceof PermissionMissing) {
      await failRun(
        deps,
        tenantId,
        runId,
        `Every drive of a batch answered 403 and ${error.roles.join(' and ')} then proved missing: the admin must grant it again`,
        'consent_incomplete',
      );
      return;
    }
    if (await settleTokenFailure(deps, error, tenantId, runId)) return;
    await recordFailure(deps, message, attempt, graph.counters, error);
    throw error;
  }

  const work = crawl.work;
  addCounters(work, graph.counters);
  const piece = { batch: message.batch, part: message.part, continued: remaining.length > 0 };
  const summary = await deps.progress.recordPiece(tenantId, runId, piece, work, attempt);
  if (!(await finishRunIfComplete(deps, tenantId, runId, summary))) {
    await publishProgress(deps, tenantId, runId, summary);
  }
}

/** One attempt at a batch: what it has settled so far. */
class BatchCrawl {
  readonly work: RunCounters = { ...ZERO_COUNTERS };
  readonly #deps: CrawlDeps;
  readonly #message: UserBatchMessage;
  readonly #graph: TenantGraph;
  /** Users with whole listings waiting to be reconciled together. */
  #pending: PreparedUser[] = [];
  readonly #skipped: Array<{ user: DriveOwner; skip: DriveSkip }> = [];
  /** Users crawled or found without a drive: their skip rows, if any, go. */
  readonly #settled: string[] = [];
  /** Whether this attempt proved the tenant's permissions already (once is enough). */
  #permissionsProven = false;

  constructor(deps: CrawlDeps, message: UserBatchMessage, graph: TenantGraph) {
    this.#deps = deps;
    this.#message = message;
    this.#graph = graph;
  }

  get #tenantId(): string {
    return this.#message.tenantId;
  }

  get #runId(): string {
    return this.#message.runId;
  }

  /**
   * Crawls the batch's users a round at a time; past `yieldAt` (ms since the epoch) it starts no new round and
   * returns the users it did not reach (at least one round is always crawled, so every piece makes progress).
   */
  async run(yieldAt: number): Promise<User[]> {
    const users = this.#message.users;
    let remaining: User[] = [];
    for (let start = 0; start < users.length; start += GRAPH_BATCH) {
      if (start > 0 && Date.now() >= yieldAt) {
        remaining = users.slice(start);
        break;
      }
      const round = users.slice(start, start + GRAPH_BATCH);
      const pages = await this.#graph.firstDrivePages(
        round.map((user) => user.id),
        this.#deps.settings.childrenPageSize,
      );
      this.#checkFailingRound(round, pages);
      await this.#checkForbiddenRound(round, pages);
      for (const user of round) {
        await this.#settleUser(user, pages.get(user.id) ?? { kind: 'noDrive' });
      }
      if (this.#pending.length >= RECONCILE_USERS) await this.#reconcilePending();
    }
    await this.#reconcilePending();
    await this.#deps.skips.recordBatch(
      this.#tenantId,
      this.#runId,
      this.#deps.now(),
      this.#skipped,
      this.#settled,
    );
    return remaining;
  }

  /**
   * The one rule for `403` (docs/permissions.md): when every user of a round of three or more answers `403`, the
   * app may have lost `Files.Read.All`; prove it again with a fresh token before skipping anyone.
   */
  async #checkForbiddenRound(round: readonly User[], pages: ReadonlyMap<string, DrivePage>): Promise<void> {
    if (this.#permissionsProven || round.length < FORBIDDEN_USERS_FOR_PROOF) return;
    const allForbidden = round.every((user) => {
      const page = pages.get(user.id);
      return page?.kind === 'skip' && page.skip.reason === 'accessDenied';
    });
    if (!allForbidden) return;
    this.#deps.logger.warn('every drive of a round answered 403; proving permissions again', {
      tenantId: this.#tenantId,
      runId: this.#runId,
      batch: this.#message.batch,
    });
    // A fresh token: a cached one keeps the roles it was issued with until it expires.
    this.#deps.forgetTenant(this.#tenantId);
    const missing = await provePermissions(this.#graph, NO_HINT_AGAINST);
    if (missing.length > 0) throw new PermissionMissing(missing);
    this.#permissionsProven = true;
  }

  /**
   * A transient failure that outlasts its retries skips one user; when it struck every user of a round of three or
   * more, Graph is failing for the tenant, not for them: the attempt fails and the queue retries the batch.
   */
  #checkFailingRound(round: readonly User[], pages: ReadonlyMap<string, DrivePage>): void {
    if (round.length < FORBIDDEN_USERS_FOR_PROOF) return;
    let last: DriveSkip | undefined;
    for (const user of round) {
      const page = pages.get(user.id);
      if (page?.kind !== 'skip' || page.skip.reason !== 'failing' || !isTransient(page.skip.status)) return;
      last = page.skip;
    }
    if (last) throw new GraphError('graph_failed', this.#tenantId, last.status, last.graphCode);
  }

  async #settleUser(user: User, first: DrivePage): Promise<void> {
    if (first.kind === 'noDrive') {
      addCounters(this.work, { usersWithoutDrive: 1 });
      this.#settled.push(user.id);
      return;
    }
    if (first.kind === 'skip') {
      this.#skip(user, first.skip);
      return;
    }
    const seen = new Set<string>();
    const prepared = prepareRows(this.#tenantId, user, first.items, this.#runId, seen);
    if ('problem' in prepared) {
      this.#skip(user, unstorable(prepared.problem));
      return;
    }
    if (first.nextLink === undefined) {
      // The whole listing in one page: reconciled with others. A user with no items has nothing to write (the
      // run's sweep takes any rows they had).
      addCounters(this.work, { usersCrawled: 1 });
      this.#settled.push(user.id);
      if (prepared.rows.length > 0) this.#pending.push({ user, rows: prepared.rows });
      return;
    }
    await this.#crawlPaged(user, prepared.rows, first.nextLink, seen);
  }

  /**
   * A user whose root spans pages: rows are held until `ROWS_BEFORE_WRITING`, then written as pages arrive, one
   * paged user at a time, so a batch never holds more than one large root's page and its IDs.
   */
  async #crawlPaged(
    user: User,
    firstRows: PreparedRow[],
    firstLink: string,
    seen: Set<string>,
  ): Promise<void> {
    let held = firstRows;
    let rewrite: UserRewrite | undefined;
    let next: string | undefined = firstLink;
    while (next !== undefined) {
      const page = await this.#graph.nextDrivePage(next);
      // `nextDrivePage` turns a drive that vanished mid-listing into a skip: a listing cut short proves nothing.
      if (page.kind !== 'page') {
        this.#skip(user, page.kind === 'skip' ? page.skip : unstorable('the listing ended early'));
        return;
      }
      const prepared = prepareRows(this.#tenantId, user, page.items, this.#runId, seen);
      if ('problem' in prepared) {
        this.#skip(user, unstorable(prepared.problem));
        return;
      }
      held = held.concat(prepared.rows);
      next = page.nextLink;
      if (held.length >= ROWS_BEFORE_WRITING) {
        rewrite ??= await this.#deps.items.beginUser(this.#tenantId, user, this.#runId);
        await rewrite.write(held);
        held = [];
      }
    }
    rewrite ??= await this.#deps.items.beginUser(this.#tenantId, user, this.#runId);
    await rewrite.write(held);
    addCounters(this.work, { usersCrawled: 1, ...(await rewrite.finish()) });
    this.#settled.push(user.id);
  }

  #skip(user: User, skip: DriveSkip): void {
    addCounters(this.work, { usersSkipped: 1 });
    this.#skipped.push({ user, skip });
    this.#deps.logger.info('user skipped', {
      tenantId: this.#tenantId,
      runId: this.#runId,
      userId: user.id,
      reason: skip.reason,
      status: skip.status,
    });
  }

  async #reconcilePending(): Promise<void> {
    const users = this.#pending;
    this.#pending = [];
    if (users.length === 0) return;
    const result = await this.#deps.items.reconcileUsers(
      this.#tenantId,
      users,
      this.#runId,
      this.#deps.settings.reconcileConcurrency,
    );
    addCounters(this.work, result);
  }
}

/** A failure that retrying might have fixed: no answer, or a 5xx. */
const isTransient = (status: number): boolean => status === 0 || status >= 500;

/** The skip of a user whose rows Table Storage would refuse: the listing answered, the store cannot hold it. */
function unstorable(problem: string): DriveSkip {
  return {
    reason: 'failing',
    status: 200,
    graphCode: undefined,
    message: `Cannot store the drive: ${problem}`,
  };
}

async function recordFailure(
  deps: CrawlDeps,
  message: UserBatchMessage,
  attempt: string,
  counters: GraphCounters,
  error: unknown,
): Promise<void> {
  const reason = `Batch ${message.batch} failed: ${describeFailure(error)}`;
  try {
    await deps.progress.recordFailedAttempt(message.tenantId, message.runId, attempt, counters, reason);
  } catch {
    // Storage may be what failed: the queue retries the batch either way, and RunProgress keeps this attempt's
    // counters to record with the run's next write.
  }
  deps.logger.warn('batch attempt failed', {
    tenantId: message.tenantId,
    runId: message.runId,
    batch: message.batch,
    reason,
  });
}
