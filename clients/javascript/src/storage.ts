/** The slice of the Web Storage API the fallback needs (so a fake works in tests). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface StoredBatch {
  id: string;
  /** Serialised records. */
  records: string[];
}

const FORMAT_VERSION = 1;

/**
 * Undelivered batches in localStorage, shared by every tab of the origin. Each change re-reads the stored
 * value, so batches another tab added are kept; a batch replayed by two tabs is deduplicated by the server
 * on event_id.
 */
export class BatchStore {
  constructor(
    private readonly storage: StorageLike,
    private readonly key: string,
    private readonly maxBatches: number,
    private readonly maxChars: number,
  ) {}

  load(): StoredBatch[] {
    let raw: string | null;
    try {
      raw = this.storage.getItem(this.key);
    } catch {
      return [];
    }
    if (!raw) return [];
    try {
      const parsed = JSON.parse(raw) as { v?: unknown; batches?: unknown };
      if (parsed.v !== FORMAT_VERSION || !Array.isArray(parsed.batches)) return [];
      const batches: StoredBatch[] = [];
      for (const item of parsed.batches as Array<{ id?: unknown; logs?: unknown }>) {
        if (typeof item?.id !== 'string' || !Array.isArray(item.logs)) continue;
        batches.push({ id: item.id, records: item.logs.map((log) => JSON.stringify(log)) });
      }
      return batches;
    } catch {
      return [];
    }
  }

  /** Stores the batch, evicting the oldest batches over the caps; returns what was evicted. */
  add(batch: StoredBatch): StoredBatch[] {
    const batches = this.load().filter((stored) => stored.id !== batch.id);
    batches.push(batch);
    const evicted: StoredBatch[] = [];
    while (batches.length > this.maxBatches || (batches.length > 0 && serialisedLength(batches) > this.maxChars)) {
      evicted.push(batches.shift()!);
    }
    // The quota is shared with the application, so a write may fail below our own caps.
    for (;;) {
      try {
        this.write(batches);
        return evicted;
      } catch {
        if (batches.length === 0) return evicted;
        evicted.push(batches.shift()!);
      }
    }
  }

  remove(id: string): void {
    const batches = this.load();
    const kept = batches.filter((stored) => stored.id !== id);
    if (kept.length === batches.length) return;
    try {
      this.write(kept);
    } catch {
      // Leaving it stored only means one more replay, which the server deduplicates.
    }
  }

  private write(batches: StoredBatch[]): void {
    if (batches.length === 0) {
      this.storage.removeItem(this.key);
      return;
    }
    this.storage.setItem(this.key, serialise(batches));
  }
}

function serialiseOne(batch: StoredBatch): string {
  return `{"id":${JSON.stringify(batch.id)},"logs":[${batch.records.join(',')}]}`;
}

function serialise(batches: StoredBatch[]): string {
  return `{"v":${FORMAT_VERSION},"batches":[${batches.map(serialiseOne).join(',')}]}`;
}

function serialisedLength(batches: StoredBatch[]): number {
  return serialise(batches).length;
}
