/** How far ahead a pinned hold reaches each time it is read (it lasts until the pin is released). */
const PIN_REACH_MS = 1_000;
/**
 * The longest a request waits for the answers being read when it was about to leave. Bytes already received are
 * read in milliseconds; a body still arriving after this is slow on the network, and its unsent bytes cannot hold
 * anything back yet.
 */
export const READ_WAIT_MS = 500;

/**
 * A tenant's `Retry-After` hold in this process: until when no request of the tenant may be written to a socket.
 * One per tenant, shared by its directory and drive pacers and read by the HTTP handler right before a request's
 * first byte, so a `429`/`503` on either kind of call holds both (Graph judges the app in the tenant, not the
 * endpoint: docs/throttling.md). Pacers wake when it changes.
 *
 * A hold can also be pinned while the crawl reads a `$batch` answer whose body holds a throttled inner answer: its
 * `Retry-After` is known only once the body is parsed, and nothing may leave meanwhile. And because a large body is
 * read over several turns of the event loop, a throttled inner answer may already sit in this process's socket
 * buffer, unread, when another request is about to leave: the tenant's `$batch` bodies being read are counted
 * (`reading`), and a request waits for those (`whenRead`) before it reads the hold (docs/throttling.md).
 */
export class TenantHold {
  #until = 0;
  #began = 0;
  #pins = 0;
  readonly #listeners = new Set<() => void>();
  /** The bodies being read, each a promise settled when it has been read. */
  readonly #reading = new Set<Promise<void>>();

  /** When the hold ends (ms since the epoch); 0 or in the past when there is none. A pin reaches past now. */
  until(): number {
    return this.#pins > 0 ? Math.max(this.#until, Date.now() + PIN_REACH_MS) : this.#until;
  }

  /** The end of the hold that answers declared (pins aside). */
  declared(): number {
    return this.#until;
  }

  /** When the latest hold began (ms since the epoch; 0 before any): what was granted before it is stale. */
  began(): number {
    return this.#began;
  }

  /** Moves the end of the hold to `until` if that is later; returns whether it did. */
  extend(until: number): boolean {
    if (!(until > this.#until)) return false;
    const now = Date.now();
    if (this.#until <= now) this.#began = now;
    this.#until = until;
    this.#changed();
    return true;
  }

  /** Holds everything until the returned function is called (once; later calls do nothing). */
  pin(): () => void {
    this.#pins += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#pins -= 1;
      this.#changed();
    };
  }

  /**
   * Counts an answer whose body may declare a hold (a `$batch`) as being read, from its head until the returned
   * function is called (once; later calls do nothing).
   */
  reading(): () => void {
    let done!: () => void;
    const read = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.#reading.add(read);
    return () => {
      if (!this.#reading.delete(read)) return;
      done();
    };
  }

  /**
   * Settles once every body being read now has been read, or after `READ_WAIT_MS`; undefined when none is being
   * read.
   */
  whenRead(): Promise<void> | undefined {
    if (this.#reading.size === 0) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, READ_WAIT_MS);
    });
    return Promise.race([Promise.all(this.#reading), cap]).then(() => clearTimeout(timer));
  }

  /** Calls `listener` whenever the hold changes; returns the function that stops it. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}
