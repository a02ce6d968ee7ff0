// One stream's bounded send queue: the pipeline pushes and never waits; a slow reader loses
// the newest events, counted, and is told how many with a `lost` item before the next one.

export type QueueItem<E> = { event: E } | { lost: number };

export interface StreamQueueOptions<E> {
  /** Events held while the transport pushes back; more are dropped. */
  capacity: number;
  /** Sends one item; false means "buffer full, wait for drain()". */
  write(item: QueueItem<E>): boolean;
  /** Called once per dropped event batch with how many were dropped now. */
  onDrop?(count: number): void;
  /** Events one item stands for (a recording's item is a batch); default 1. */
  weight?(event: E): number;
}

export class StreamQueue<E> {
  private readonly items: QueueItem<E>[] = [];
  private head = 0;
  private blocked = false;
  /** Dropped events not yet reported to the reader. */
  private unreported = 0;
  /** Every event this stream dropped. */
  dropped = 0;
  /** Events in `items` (lost markers excluded): what the capacity bounds. */
  private queuedEvents = 0;

  constructor(private readonly opts: StreamQueueOptions<E>) {}

  get queued(): number {
    return this.queuedEvents;
  }

  get waitingForDrain(): boolean {
    return this.blocked;
  }

  push(event: E): void {
    if (!this.blocked && this.head === this.items.length) {
      if (this.unreported > 0 && !this.send({ lost: this.takeUnreported() })) {
        this.enqueue({ event });
        return;
      }
      this.send({ event });
      return;
    }
    const n = this.weightOf(event);
    // An item heavier than the whole bound still goes into an empty queue, so it is not always lost.
    if (this.queuedEvents > 0 && this.queuedEvents + n > this.opts.capacity) {
      this.dropped += n;
      this.unreported += n;
      this.opts.onDrop?.(n);
      return;
    }
    // The loss happened before this event, so its report goes first.
    if (this.unreported > 0) this.items.push({ lost: this.takeUnreported() });
    this.enqueue({ event });
  }

  /** The transport can take more: send what waits, then any loss not yet reported. */
  drain(): void {
    this.blocked = false;
    while (this.head < this.items.length) {
      const item = this.items[this.head]!;
      this.items[this.head++] = undefined as unknown as QueueItem<E>;
      if ('event' in item) this.queuedEvents -= this.weightOf(item.event);
      if (!this.send(item)) break;
    }
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
      if (!this.blocked && this.unreported > 0) this.send({ lost: this.takeUnreported() });
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      // Compact now and then, so a long-blocked stream does not keep a growing dead prefix.
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  private enqueue(item: QueueItem<E> & { event: E }): void {
    this.items.push(item);
    this.queuedEvents += this.weightOf(item.event);
  }

  private weightOf(event: E): number {
    return this.opts.weight ? this.opts.weight(event) : 1;
  }

  private send(item: QueueItem<E>): boolean {
    const ok = this.opts.write(item);
    if (!ok) this.blocked = true;
    return ok;
  }

  private takeUnreported(): number {
    const n = this.unreported;
    this.unreported = 0;
    return n;
  }
}
