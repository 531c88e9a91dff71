/** How far ahead a pinned hold reaches each time it is read (it lasts until the pin is released). */
const PIN_REACH_MS = 1_000;

/**
 * A tenant's `Retry-After` hold in this process: until when no request of the tenant may be written to a socket.
 * One per tenant, shared by its directory and drive pacers and read by the HTTP handler right before a request's
 * first byte, so a `429`/`503` on either kind of call holds both (Graph judges the app in the tenant, not the
 * endpoint: docs/throttling.md). Pacers wake when it changes.
 *
 * A hold can also be pinned while the crawl reads a `$batch` answer whose body holds a throttled inner answer: its
 * `Retry-After` is known only once the body is parsed, and nothing may leave meanwhile.
 */
export class TenantHold {
  #until = 0;
  #pins = 0;
  readonly #listeners = new Set<() => void>();

  /** When the hold ends (ms since the epoch); 0 or in the past when there is none. A pin reaches past now. */
  until(): number {
    return this.#pins > 0 ? Math.max(this.#until, Date.now() + PIN_REACH_MS) : this.#until;
  }

  /** The end of the hold that answers declared (pins aside). */
  declared(): number {
    return this.#until;
  }

  /** Moves the end of the hold to `until` if that is later; returns whether it did. */
  extend(until: number): boolean {
    if (!(until > this.#until)) return false;
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

  /** Calls `listener` whenever the hold changes; returns the function that stops it. */
  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(): void {
    for (const listener of this.#listeners) listener();
  }
}
