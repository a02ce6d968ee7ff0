// A stream's bounded queue: the producer never waits; a blocked transport queues up to the
// bound, drops beyond it, and reports the loss before the next event.
import { describe, expect, it } from 'vitest';
import { StreamQueue, type QueueItem } from '../../src/api/stream-queue.js';

/** A transport that accepts `room` items before pushing back. */
function transport(room: number) {
  const sent: QueueItem<number>[] = [];
  const t = {
    sent,
    room,
    write: (item: QueueItem<number>) => {
      sent.push(item);
      return --t.room > 0;
    },
  };
  return t;
}

describe('StreamQueue', () => {
  it('writes straight through while the transport takes more', () => {
    const t = transport(100);
    const q = new StreamQueue<number>({ capacity: 4, write: t.write });
    for (let i = 0; i < 10; i++) q.push(i);
    expect(t.sent).toEqual([...Array(10).keys()].map((event) => ({ event })));
    expect(q.queued).toBe(0);
  });

  it('stops writing at the first false, queues to the bound, drops and counts the rest', () => {
    const t = transport(2);
    const drops: number[] = [];
    const q = new StreamQueue<number>({ capacity: 3, write: t.write, onDrop: (n) => drops.push(n) });
    for (let i = 0; i < 10; i++) q.push(i);
    // 0 and 1 written (the second write said "full"), 2..4 queued, 5..9 dropped.
    expect(t.sent).toEqual([{ event: 0 }, { event: 1 }]);
    expect(q.waitingForDrain).toBe(true);
    expect(q.queued).toBe(3);
    expect(q.dropped).toBe(5);
    expect(drops.reduce((a, b) => a + b, 0)).toBe(5);

    t.room = 100;
    q.drain();
    // The queued events (older than the drops) go first, then the loss is reported.
    expect(t.sent.slice(2)).toEqual([{ event: 2 }, { event: 3 }, { event: 4 }, { lost: 5 }]);
    q.push(10);
    expect(t.sent.at(-1)).toEqual({ event: 10 });
  });

  it('reports a loss before the first event queued after it, and counts each loss once', () => {
    const t = transport(1);
    const q = new StreamQueue<number>({ capacity: 2, write: t.write });
    q.push(0); // written; the transport is now full
    q.push(1);
    q.push(2); // queued
    q.push(3);
    q.push(4); // dropped: 2
    t.room = 2; // room for 1 and 2 only
    q.drain();
    expect(t.sent).toEqual([{ event: 0 }, { event: 1 }, { event: 2 }]);
    q.push(5); // queued behind a lost marker
    q.push(6);
    q.push(7); // dropped: queue holds 5, 6
    t.room = 100;
    q.drain();
    expect(t.sent.slice(3)).toEqual([{ lost: 2 }, { event: 5 }, { event: 6 }, { lost: 1 }]);
    expect(q.dropped).toBe(3);
    const reported = t.sent.reduce((n, item) => n + ('lost' in item ? item.lost : 0), 0);
    expect(reported).toBe(q.dropped);
  });

  it('resumes where it stopped when the transport blocks again halfway through a drain', () => {
    const t = transport(1);
    const q = new StreamQueue<number>({ capacity: 3, write: t.write });
    for (let i = 0; i < 6; i++) q.push(i); // 0 sent, 1..3 queued, 4 and 5 dropped
    t.room = 2;
    q.drain(); // sends 1 and 2, blocks again
    expect(q.waitingForDrain).toBe(true);
    expect(q.queued).toBe(1);
    t.room = 100;
    q.drain();
    expect(t.sent).toEqual([{ event: 0 }, { event: 1 }, { event: 2 }, { event: 3 }, { lost: 2 }]);
  });

  it('holds at most `capacity` events however long the reader stalls', () => {
    const t = transport(1);
    const q = new StreamQueue<number>({ capacity: 4096, write: t.write });
    for (let i = 0; i < 100_000; i++) q.push(i);
    expect(q.queued).toBe(4096);
    expect(q.dropped).toBe(100_000 - 1 - 4096);
  });

  it('bounds and counts by weight: a recording queues batches and loses events', () => {
    const t = transport(1);
    const drops: number[] = [];
    const q = new StreamQueue<number>({ capacity: 10, write: t.write, onDrop: (n) => drops.push(n), weight: (batch) => batch });
    q.push(3); // written; the transport is now full
    q.push(4);
    q.push(5); // 9 queued events
    q.push(6); // would be 15: dropped, 6 events
    q.push(1); // 10: fits
    expect(q.queued).toBe(10);
    expect(drops).toEqual([6]);
    expect(q.dropped).toBe(6);
    t.room = 100;
    q.drain();
    expect(t.sent).toEqual([{ event: 3 }, { event: 4 }, { event: 5 }, { lost: 6 }, { event: 1 }]);
    expect(q.queued).toBe(0);
  });
});
