// The offline queue of submissions: each one uploads its media (tus, resumable) and then files
// the capture (POST /v1/captures with its own Idempotency-Key). Every step's result is written
// to the store before the next step starts, so a closed page, a crash or a dead network
// resumes where it stopped, and a retry never files twice.

export const State = Object.freeze({
  WAITING: "waiting", // not (fully) uploaded or not filed yet; retried when the network is back
  FILED: "filed",
  FAILED: "failed", // refused by the API (4xx): retrying would not help
});

// HTTP statuses worth retrying: no answer, timeouts, rate limits, server errors.
export function isTransient(error) {
  const status = error?.status ?? 0;
  return status === 0 || status === 408 || status === 409 || status === 423 || status === 429 || status >= 500;
}

export class SubmissionQueue {
  // store: {get(id), put(item), all()}; upload(item, {onUrl, onProgress}) -> attachment id;
  // file(item) -> API capture; onChange(item) for the UI.
  constructor(store, { upload, file, onChange = () => {} }) {
    this.store = store;
    this.upload = upload;
    this.file = file;
    this.onChange = onChange;
    this.running = null;
  }

  async add(item) {
    const queued = {
      state: State.WAITING,
      uploadUrl: null,
      attachmentId: null,
      progress: 0,
      capture: null,
      error: null,
      attempts: 0,
      ...item,
      idempotencyKey: item.idempotencyKey ?? crypto.randomUUID(),
    };
    await this.store.put(queued);
    this.onChange(queued);
    return queued;
  }

  async save(item, changes) {
    Object.assign(item, changes);
    await this.store.put(item);
    this.onChange(item);
    return item;
  }

  async pending() {
    return (await this.store.all()).filter((item) => item.state === State.WAITING);
  }

  // Works through every waiting item once; concurrent calls share one run.
  run() {
    this.running ??= this.runOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  async runOnce() {
    for (const item of await this.pending()) {
      await this.process(item);
    }
  }

  async process(item) {
    try {
      await this.save(item, { attempts: item.attempts + 1, error: null });
      if (!item.attachmentId) {
        const attachmentId = await this.upload(item, {
          onUrl: (uploadUrl) => this.save(item, { uploadUrl }),
          onProgress: (sent, total) => {
            item.progress = total ? sent / total : 0;
            this.onChange(item);
          },
        });
        await this.save(item, { attachmentId, progress: 1 });
      }
      const capture = await this.file(item);
      await this.save(item, { state: State.FILED, capture, media: null });
    } catch (error) {
      const state = isTransient(error) ? State.WAITING : State.FAILED;
      await this.save(item, { state, error: String(error?.message ?? error) });
    }
    return item;
  }
}

// A store in memory (tests, and pages without IndexedDB).
export class MemoryStore {
  constructor() {
    this.items = new Map();
  }
  async get(id) {
    return this.items.get(id);
  }
  async put(item) {
    this.items.set(item.id, { ...item });
  }
  async all() {
    return [...this.items.values()].map((item) => ({ ...item }));
  }
  async delete(id) {
    this.items.delete(id);
  }
}
