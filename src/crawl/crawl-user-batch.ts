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
import type { GraphDriveItem } from '../graph/graph-types';
import { RESOURCE_UNITS } from '../graph/resource-costs';
import type { DrivePage, TenantGraph } from '../graph/tenant-graph';
import type { CrawlScope, DriveCursor } from './drive-cursors';
import type { DriveOwner, PreparedRow, PreparedUser, UserRewrite } from './drive-item-store';
import { prepareRows } from './drive-item-store';
import { FORBIDDEN_USERS_FOR_PROOF, provePermissions } from '../tenants/prove-permissions';

/** Users whose first pages travel in one `$batch` round trip (Graph's limit). */
const GRAPH_BATCH = 20;
/**
 * Users with whole listings reconciled together: their index rows go in one transaction, so listings are gathered
 * over several round trips (most users of a round trip may have nothing to store) while memory stays bounded. The
 * next rounds are read while a reconcile is stored, so a batch holds up to twice this many users' rows.
 */
const RECONCILE_USERS = 10;
/**
 * Rows of waiting users past which they are reconciled at once, whatever their number: a drive read whole over
 * several pages may wait with up to `ROWS_BEFORE_WRITING` rows, and memory stays bounded (twice this, with the
 * reconcile being stored).
 */
const RECONCILE_ROWS = 10_000;
/**
 * Rows of one paged user held before the first is written: a user whose listing fails before this many were read
 * keeps every row exactly as it was; past it, rows are written as pages arrive, so memory stays bounded whatever
 * the root holds.
 */
const ROWS_BEFORE_WRITING = 5_000;

/** Cursors gathered before they are saved: one transaction's worth (Table Storage's 100 entities). */
const CURSORS_PER_SAVE = 100;

/** The role both probes need: the crawl concludes a permission is missing only on proof, never on a hint. */
const NO_HINT_AGAINST: ReadonlySet<string> = new Set(['User.Read.All', 'Files.Read.All']);

type User = UserBatchMessage['users'][number];

/** Raised before a write when the tenant was offboarded meanwhile: the batch stops and writes nothing more. */
export class TenantOffboarded extends Error {
  override readonly name = 'TenantOffboarded';
}

/**
 * Checked before each write (docs/offboarding.md): once the operator offboarded the tenant, a batch already under
 * way writes nothing more, so the deletion is not undone behind its back.
 */
export async function assertStillOnboarded(deps: CrawlDeps, tenantId: string): Promise<void> {
  const tenant = await deps.registry.get(tenantId);
  if (!tenant || tenant.status === 'offboarded')
    throw new TenantOffboarded(`Tenant ${tenantId} was offboarded`);
}

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
  const crawl = new BatchCrawl(deps, message, graph, run.cursorsFrom);
  const yieldAt = Date.now() + deps.settings.batchYieldMs;

  let remaining: User[];
  try {
    remaining = await crawl.run(yieldAt);
    if (remaining.length > 0) {
      // Queued before this piece is recorded: a crash in between redoes this piece (idempotent), never loses the
      // remaining users. A duplicate continuation is recorded once (its piece marker).
      const part = (message.part ?? 0) + 1;
      await assertStillOnboarded(deps, tenantId);
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
    if (error instanceof TenantOffboarded) {
      deps.logger.info('batch stopped: the tenant was offboarded', { tenantId, runId, batch: message.batch });
      return;
    }
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
  try {
    await assertStillOnboarded(deps, tenantId);
  } catch (error) {
    if (!(error instanceof TenantOffboarded)) {
      // The work is done but not recorded: its requests count with the failure, and the retry redoes the piece.
      await recordFailure(deps, message, attempt, graph.counters, error);
      throw error;
    }
    deps.logger.info('batch stopped: the tenant was offboarded', { tenantId, runId, batch: message.batch });
    return;
  }
  const summary = await deps.progress.recordPiece(tenantId, runId, piece, work, attempt);
  if (!(await finishRunIfComplete(deps, tenantId, runId, summary))) {
    await publishProgress(deps, tenantId, runId, summary);
  }
}

/** A drive as a cursor pins it: its ID and its root's (docs/delta.md). */
interface DriveIds {
  driveId: string;
  rootId: string;
}

/** A user whose drive is read from scratch this round, with its drive once known. */
interface FreshUser {
  user: User;
  drive: DriveIds | undefined;
}

/** A user whose changes wait to be reconciled with others', and the cursor to save once they are stored. */
interface PendingUser {
  prepared: PreparedUser;
  cursor: DriveCursor;
}

/** What a page of a listing or delta holds for the store: rows to upsert and, for a delta, IDs to remove. */
type PageRows = { rows: PreparedRow[]; removed: string[] | undefined } | { problem: string };

/** Any drive request's outcome: only its skip, if it is one, matters to the round's checks. */
type RoundAnswer = { kind: string; skip?: DriveSkip };

/** One attempt at a batch: what it has settled so far. */
class BatchCrawl {
  readonly work: RunCounters = { ...ZERO_COUNTERS };
  readonly #deps: CrawlDeps;
  readonly #message: UserBatchMessage;
  readonly #graph: TenantGraph;
  readonly #scope: CrawlScope;
  /** Cursors saved before this moment are not followed (a new consent, or a full crawl asked for). */
  readonly #cursorsFrom: string | undefined;
  /** Users with changes waiting to be reconciled together. */
  #pending: PendingUser[] = [];
  #pendingRows = 0;
  /** The reconcile being stored while the next rounds are read (at most one). */
  #reconciling: Promise<void> | undefined;
  /** Cursors whose changes are stored, waiting to be saved together. */
  #cursors: DriveCursor[] = [];
  readonly #skipped: Array<{ user: DriveOwner; skip: DriveSkip }> = [];
  /** Users crawled or found without a drive: their skip rows, if any, go. */
  readonly #settled: string[] = [];
  /** Whether this attempt proved the tenant's permissions already (once is enough). */
  #permissionsProven = false;

  constructor(
    deps: CrawlDeps,
    message: UserBatchMessage,
    graph: TenantGraph,
    cursorsFrom: string | undefined,
  ) {
    this.#deps = deps;
    this.#message = message;
    this.#graph = graph;
    this.#scope = deps.settings.crawlScope;
    this.#cursorsFrom = cursorsFrom;
  }

  get #tenantId(): string {
    return this.#message.tenantId;
  }

  get #runId(): string {
    return this.#message.runId;
  }

  /** Stops the batch before a write once the tenant is offboarded. */
  #guard(): Promise<void> {
    return assertStillOnboarded(this.#deps, this.#tenantId);
  }

  get #top(): number {
    return this.#deps.settings.childrenPageSize;
  }

  /**
   * Crawls the batch's users a round at a time; past `yieldAt` (ms since the epoch) it starts no new round and
   * returns the users it did not reach (at least one round is always crawled, so every piece makes progress).
   */
  async run(yieldAt: number): Promise<User[]> {
    const users = this.#message.users;
    let remaining: User[] = [];
    try {
      for (let start = 0; start < users.length; start += GRAPH_BATCH) {
        if (start > 0 && Date.now() >= yieldAt) {
          remaining = users.slice(start);
          break;
        }
        await this.#crawlRound(users.slice(start, start + GRAPH_BATCH));
        if (this.#pending.length >= RECONCILE_USERS) await this.#reconcilePending();
      }
      await this.#reconcilePending();
      await this.#reconciled();
    } finally {
      // A failed attempt leaves no write behind it: its retry reads the index this one stored. Its own error is
      // the one that counts.
      await this.#reconciled().catch(() => undefined);
    }
    await this.#saveCursors();
    await this.#guard();
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
   * One round of users (docs/delta.md): those with a cursor follow it (one `$batch` of deltas); the others, and
   * those whose cursor Graph no longer knows, find their drive (one `$batch` of root items) and are read whole.
   */
  async #crawlRound(round: readonly User[]): Promise<void> {
    const stored = await this.#deps.cursors.read(
      this.#tenantId,
      round.filter((user) => user.cursor !== false).map((user) => user.id),
    );
    const fresh: FreshUser[] = [];
    const following: Array<{ user: User; cursor: DriveCursor; path: string }> = [];
    for (const user of round) {
      const cursor = stored.get(user.id);
      const path = cursor && this.#usable(cursor) ? this.#graph.batchPath(cursor.deltaLink) : undefined;
      if (cursor && path) following.push({ user, cursor, path });
      else fresh.push({ user, drive: undefined });
      if (cursor && this.#usable(cursor) && !path) {
        // Never sent: a link off the Graph origin would carry the token elsewhere. The drive is read whole.
        this.#deps.logger.warn('delta cursor not on the Graph origin; reading the drive whole', {
          tenantId: this.#tenantId,
          runId: this.#runId,
          userId: user.id,
        });
      }
    }

    if (following.length > 0) {
      const pages = await this.#graph.drivePages(
        following.map(({ user, path }) => ({ key: user.id, path, units: RESOURCE_UNITS.deltaWithToken })),
      );
      await this.#checkRound(
        following.map(({ user }) => user),
        pages,
      );
      for (const { user, cursor } of following) {
        const outcome = await this.#followDelta(user, cursor, pages.get(user.id) ?? { kind: 'noDrive' });
        if (outcome === 'resync') fresh.push({ user, drive: cursor });
        if (outcome === 'driveGone') fresh.push({ user, drive: undefined });
      }
    }

    const unknown = fresh.filter((entry) => entry.drive === undefined);
    if (unknown.length > 0) {
      const roots = await this.#graph.driveRoots(unknown.map(({ user }) => user.id));
      await this.#checkRound(
        unknown.map(({ user }) => user),
        roots,
      );
      for (const entry of unknown) {
        const root = roots.get(entry.user.id) ?? { kind: 'noDrive' };
        if (root.kind === 'drive') entry.drive = { driveId: root.driveId, rootId: root.rootId };
        else if (root.kind === 'noDrive') this.#noDrive(entry.user);
        else this.#skip(entry.user, root.skip);
      }
    }

    const ready = fresh.filter(
      (entry): entry is { user: User; drive: DriveIds } => entry.drive !== undefined,
    );
    if (ready.length === 0) return;
    if (this.#scope === 'root') await this.#listRoots(ready);
    else await this.#enumerateDrives(ready);
  }

  /** Whether a stored cursor may be followed: kept in this scope, and saved since the tenant's last reset. */
  #usable(cursor: DriveCursor): boolean {
    return (
      cursor.scope === this.#scope && (this.#cursorsFrom === undefined || cursor.savedAt >= this.#cursorsFrom)
    );
  }

  /** Both rules of a round's answers: a failing tenant fails the attempt, a round all `403` proves permissions. */
  async #checkRound(users: readonly User[], answers: ReadonlyMap<string, RoundAnswer>): Promise<void> {
    this.#checkFailingRound(users, answers);
    await this.#checkForbiddenRound(users, answers);
  }

  /**
   * Root scope, read whole: a cursor at now first (`token=latest`, 1 unit), then the root's children, so that a
   * change made while they are listed is replayed by the next run rather than missed (docs/delta.md).
   */
  async #listRoots(ready: ReadonlyArray<{ user: User; drive: DriveIds }>): Promise<void> {
    const latest = await this.#graph.drivePages(
      ready.map(({ user, drive }) => this.#graph.deltaGet(user.id, drive.driveId, this.#top, 'latest')),
    );
    const listed: Array<{ user: User; cursor: DriveCursor }> = [];
    for (const { user, drive } of ready) {
      const page = latest.get(user.id) ?? { kind: 'noDrive' };
      if (page.kind === 'page' && page.deltaLink !== undefined) {
        listed.push({ user, cursor: this.#cursor(user, drive, page.deltaLink) });
      } else this.#unread(user, page);
    }
    if (listed.length === 0) return;
    const pages = await this.#graph.drivePages(
      listed.map(({ user, cursor }) => this.#graph.childrenGet(user.id, cursor.driveId, this.#top)),
    );
    for (const { user, cursor } of listed) {
      await this.#readWhole(
        user,
        cursor,
        pages.get(user.id) ?? { kind: 'noDrive' },
        RESOURCE_UNITS.driveListing,
      );
    }
  }

  /** Drive scope, read whole: a delta without a token enumerates the drive and ends with the cursor. */
  async #enumerateDrives(ready: ReadonlyArray<{ user: User; drive: DriveIds }>): Promise<void> {
    const pages = await this.#graph.drivePages(
      ready.map(({ user, drive }) => this.#graph.deltaGet(user.id, drive.driveId, this.#top, 'start')),
    );
    for (const { user, drive } of ready) {
      const cursor = this.#cursor(user, drive, '');
      await this.#readWhole(
        user,
        cursor,
        pages.get(user.id) ?? { kind: 'noDrive' },
        RESOURCE_UNITS.deltaWithoutToken,
      );
    }
  }

  #cursor(user: User, drive: DriveIds, deltaLink: string): DriveCursor {
    return {
      userId: user.id,
      driveId: drive.driveId,
      rootId: drive.rootId,
      scope: this.#scope,
      deltaLink,
      items: 0,
      runId: this.#runId,
      savedAt: '',
    };
  }

  /** A drive that answered something other than a page where one was due: no drive, or a skip. */
  #unread(user: User, page: DrivePage): void {
    if (page.kind === 'noDrive') this.#noDrive(user);
    else if (page.kind === 'skip') this.#skip(user, page.skip);
    else
      this.#skip(user, unstorable(page.kind === 'resync' ? 'the drive asked for a resync' : 'no deltaLink'));
  }

  /**
   * Follows a user's cursor: each page's changes are stored before the next is read, and the new cursor is saved
   * once all are. A `410` (`resync`) and a drive that answers `404` (re-created: `driveGone`) start the user
   * again from scratch; changes already stored stay, being real.
   */
  async #followDelta(
    user: User,
    cursor: DriveCursor,
    first: DrivePage,
  ): Promise<'done' | 'resync' | 'driveGone'> {
    let page = first;
    let rowsNow = cursor.items;
    for (let pages = 1; ; pages += 1) {
      if (page.kind === 'noDrive' || page.kind === 'resync') {
        this.#deps.logger.info(
          page.kind === 'resync'
            ? 'delta cursor refused; reading the drive again'
            : 'drive gone; looking it up again',
          { tenantId: this.#tenantId, runId: this.#runId, userId: user.id },
        );
        return page.kind === 'resync' ? 'resync' : 'driveGone';
      }
      if (page.kind === 'skip') {
        this.#skip(user, page.skip);
        return 'done';
      }
      addCounters(this.work, { itemsRead: page.items.length });
      const changes = await this.#deltaRows(user, cursor.rootId, page.items);
      if ('problem' in changes) {
        this.#skip(user, unstorable(changes.problem));
        return 'done';
      }
      const prepared: PreparedUser = { user, rows: changes.rows, removed: changes.removed ?? [] };
      if (page.nextLink === undefined && page.deltaLink === undefined) {
        this.#skip(user, unstorable('the delta ended without a deltaLink'));
        return 'done';
      }
      const next = { ...cursor, deltaLink: page.deltaLink ?? '', runId: this.#runId, items: rowsNow };
      if (page.nextLink === undefined && pages === 1) {
        // The common case, one page of changes (often none): reconciled with other users'.
        this.#crawled(user);
        await this.#wait({ prepared, cursor: next });
        return 'done';
      }
      await this.#guard();
      const result = await this.#deps.items.reconcileUsers(this.#tenantId, [prepared], this.#runId);
      addCounters(this.work, { itemsDeleted: result.itemsDeleted });
      rowsNow = result.rowsOf.get(user.id) ?? rowsNow;
      if (page.nextLink === undefined) {
        this.#crawled(user, rowsNow);
        this.#cursors.push({ ...next, items: rowsNow });
        return 'done';
      }
      page = await this.#graph.nextDrivePage(page.nextLink, RESOURCE_UNITS.deltaWithToken);
    }
  }

  /**
   * A delta page's changes in this scope (docs/delta.md): each item once, in its latest state; deleted items go
   * with, in drive scope, the stored descendants of a deleted folder; in root scope only the root's children are
   * kept, so an item moved out of the root goes too. The root item itself is never a row.
   */
  async #deltaRows(
    user: User,
    rootId: string,
    items: readonly GraphDriveItem[],
    whole = false,
  ): Promise<PageRows> {
    const latest = new Map<string, GraphDriveItem>();
    for (const item of items) latest.set(item.id, item);
    const live: GraphDriveItem[] = [];
    const removed: string[] = [];
    const deleted: string[] = [];
    for (const item of latest.values()) {
      if (item.root !== undefined || item.id === rootId) continue;
      if (item.deleted !== undefined) deleted.push(item.id);
      else if (this.#scope === 'root' && item.parentReference?.id !== rootId) removed.push(item.id);
      else live.push(item);
    }
    removed.push(...deleted);
    // Read whole, nothing stored survives that the reading does not hold: no descendants to look up.
    if (this.#scope === 'drive' && deleted.length > 0 && !whole) {
      removed.push(...(await this.#deps.items.descendantsOf(this.#tenantId, user.id, deleted)));
    }
    const prepared = prepareRows(this.#tenantId, user, live, this.#runId, new Set());
    return 'problem' in prepared ? prepared : { rows: prepared.rows, removed };
  }

  /**
   * Reads a user's drive whole (the root's children, or a drive's enumeration) and makes the user's rows exactly
   * what it holds. Rows are held until `ROWS_BEFORE_WRITING`, then written as pages arrive, so a batch never holds
   * more than one large drive's page and its IDs. The cursor is saved once every row is stored.
   */
  async #readWhole(user: User, cursor: DriveCursor, first: DrivePage, pageUnits: number): Promise<void> {
    const enumerating = this.#scope === 'drive';
    // A listing's item repeated across a page boundary is stored once; in an enumeration a later copy is newer.
    const seen = new Set<string>();
    let held = new Map<string, PreparedRow>();
    let rewrite: UserRewrite | undefined;
    let page = first;
    let deltaLink = cursor.deltaLink;
    for (;;) {
      // `nextDrivePage` turns a drive that vanished mid-listing into a skip: a listing cut short proves nothing.
      if (page.kind !== 'page') {
        if (page === first) this.#unread(user, page);
        else this.#skip(user, page.kind === 'skip' ? page.skip : unstorable('the listing ended early'));
        return;
      }
      addCounters(this.work, { itemsRead: page.items.length });
      const prepared: PageRows = enumerating
        ? await this.#deltaRows(user, cursor.rootId, page.items, true)
        : this.#listingRows(user, page.items, seen);
      if ('problem' in prepared) {
        this.#skip(user, unstorable(prepared.problem));
        return;
      }
      for (const row of prepared.rows) held.set(row.rowKey, row);
      for (const id of prepared.removed ?? []) held.delete(id);
      if (held.size >= ROWS_BEFORE_WRITING) {
        await this.#guard();
        rewrite ??= await this.#deps.items.beginUser(this.#tenantId, user, this.#runId);
        await rewrite.write([...held.values()]);
        held = new Map();
      }
      if (enumerating && page.deltaLink !== undefined) deltaLink = page.deltaLink;
      if (page.nextLink === undefined) break;
      page = await this.#graph.nextDrivePage(page.nextLink, pageUnits);
    }
    if (deltaLink === '') {
      this.#skip(user, unstorable('the delta ended without a deltaLink'));
      return;
    }
    const next = { ...cursor, deltaLink };
    if (rewrite === undefined) {
      // Whole in hand: reconciled with other users' (a user with no items loses any rows they had).
      this.#crawled(user);
      await this.#wait({ prepared: { user, rows: [...held.values()] }, cursor: next });
      return;
    }
    await this.#guard();
    await rewrite.write([...held.values()]);
    const result = await rewrite.finish();
    addCounters(this.work, { itemsDeleted: result.itemsDeleted });
    this.#crawled(user, result.itemsStored);
    this.#cursors.push({ ...next, items: result.itemsStored });
  }

  /** A listing page's rows: every item is a row, each ID once (`seen` holds the IDs of the pages before). */
  #listingRows(user: User, items: readonly GraphDriveItem[], seen: Set<string>): PageRows {
    const prepared = prepareRows(this.#tenantId, user, items, this.#runId, seen);
    return 'problem' in prepared ? prepared : { rows: prepared.rows, removed: undefined };
  }

  /** A user read this run: counted, skip row cleared; `rows` once known (pending users count theirs later). */
  #crawled(user: User, rows?: number): void {
    addCounters(this.work, { usersCrawled: 1, itemsStored: rows ?? 0 });
    this.#settled.push(user.id);
  }

  #noDrive(user: User): void {
    addCounters(this.work, { usersWithoutDrive: 1 });
    this.#settled.push(user.id);
  }

  /**
   * The one rule for `403` (docs/permissions.md): when every user of a round of three or more answers `403`, the
   * app may have lost `Files.Read.All`; prove it again with a fresh token before skipping anyone.
   */
  async #checkForbiddenRound(
    users: readonly User[],
    answers: ReadonlyMap<string, RoundAnswer>,
  ): Promise<void> {
    if (this.#permissionsProven || users.length < FORBIDDEN_USERS_FOR_PROOF) return;
    const allForbidden = users.every((user) => answers.get(user.id)?.skip?.reason === 'accessDenied');
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
    await this.#deps.registry.recordPermissionsProven(this.#tenantId, this.#deps.now());
  }

  /**
   * A transient failure that outlasts its retries skips one user; when it struck every user of a round of three or
   * more, Graph is failing for the tenant, not for them: the attempt fails and the queue retries the batch.
   */
  #checkFailingRound(users: readonly User[], answers: ReadonlyMap<string, RoundAnswer>): void {
    if (users.length < FORBIDDEN_USERS_FOR_PROOF) return;
    let last: DriveSkip | undefined;
    for (const user of users) {
      const skip = answers.get(user.id)?.skip;
      if (skip?.reason !== 'failing' || !isTransient(skip.status)) return;
      last = skip;
    }
    if (last) throw new GraphError('graph_failed', this.#tenantId, last.status, last.graphCode);
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

  /** Queues a user's changes to be reconciled with others'; past `RECONCILE_ROWS` waiting rows, reconciles now. */
  async #wait(user: PendingUser): Promise<void> {
    this.#pending.push(user);
    this.#pendingRows += user.prepared.rows.length;
    if (this.#pendingRows >= RECONCILE_ROWS) await this.#reconcilePending();
  }

  /**
   * Starts storing the waiting users together once the reconcile before them is stored, and returns: the next rounds
   * are read from Graph meanwhile, so a slow storage answer does not idle the tenant's budget. Its failure is the
   * batch's, at the next reconcile or at the end of the batch.
   */
  async #reconcilePending(): Promise<void> {
    // One in flight: a caller that finds one (started by another while it waited) waits for that one too.
    while (this.#reconciling) await this.#reconciled();
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingRows = 0;
    if (pending.length === 0) return;
    const reconciling = this.#reconcile(pending);
    // Observed here so that a failure is not unhandled before `#reconciled` rethrows it.
    reconciling.catch(() => undefined);
    this.#reconciling = reconciling;
  }

  /** Waits until the reconcile in flight, if any, is stored; rethrows its failure. */
  async #reconciled(): Promise<void> {
    const reconciling = this.#reconciling;
    if (!reconciling) return;
    try {
      await reconciling;
    } finally {
      if (this.#reconciling === reconciling) this.#reconciling = undefined;
    }
  }

  /** Reconciles waiting users together, then queues their cursors (their changes are stored now). */
  async #reconcile(pending: readonly PendingUser[]): Promise<void> {
    await this.#guard();
    const result = await this.#deps.items.reconcileUsers(
      this.#tenantId,
      pending.map(({ prepared }) => prepared),
      this.#runId,
      this.#deps.settings.reconcileConcurrency,
    );
    addCounters(this.work, { itemsDeleted: result.itemsDeleted });
    for (const { prepared, cursor } of pending) {
      // A delta without changes read nothing: the user still has the rows its cursor counted.
      const rows = result.rowsOf.get(prepared.user.id) ?? cursor.items;
      addCounters(this.work, { itemsStored: rows });
      this.#cursors.push({ ...cursor, items: rows });
    }
    if (this.#cursors.length >= CURSORS_PER_SAVE) await this.#saveCursors();
  }

  async #saveCursors(): Promise<void> {
    const cursors = this.#cursors;
    this.#cursors = [];
    const savedAt = this.#deps.now().toISOString();
    if (cursors.length === 0) return;
    await this.#guard();
    await this.#deps.cursors.save(
      this.#tenantId,
      cursors.map((cursor) => ({ ...cursor, savedAt })),
    );
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
    // Storage may be what failed: the queue retries the batch either way, and this attempt's requests go uncounted,
    // the one gap the run's `requests` may have (README, "Crawl bookkeeping").
  }
  deps.logger.warn('batch attempt failed', {
    tenantId: message.tenantId,
    runId: message.runId,
    batch: message.batch,
    reason,
  });
}
