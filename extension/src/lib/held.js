// A file for tus-js-client (its `fileReader` option) that keeps its last bytes back until it is
// released. A recording uploads this way while the person writes the ticket: everything but the
// end goes ahead, the upload stays unfinished on the API (so it is no attachment yet), and filing
// the ticket only sends the end.
export const HELD_BYTES = 64 * 1024;

export class HeldFile {
  constructor(blob, held = HELD_BYTES) {
    this.blob = blob;
    this.limit = Math.max(0, blob.size - held); // what may be sent before release()
    this.released = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release() {
    this.limit = this.blob.size;
    this.open();
  }

  openFile() {
    return Promise.resolve({
      size: this.blob.size,
      // A chunk stops at the limit; at the limit, the next one waits for release().
      slice: async (start, end) => {
        if (start >= this.limit && start < this.blob.size) await this.released;
        const stop = Math.min(end, this.limit);
        return { value: this.blob.slice(start, stop), done: stop >= this.blob.size };
      },
      close() {},
    });
  }
}
