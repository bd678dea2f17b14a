// A fixed-size buffer that keeps the newest entries: console errors, failed requests and user
// steps of one tab. Old entries fall out; nothing grows without bound.
export class RingBuffer {
  constructor(capacity) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be >= 1");
    this.capacity = capacity;
    this.items = new Array(capacity);
    this.start = 0;
    this.size = 0;
    this.dropped = 0;
  }

  push(item) {
    const end = (this.start + this.size) % this.capacity;
    this.items[end] = item;
    if (this.size < this.capacity) {
      this.size += 1;
    } else {
      this.start = (this.start + 1) % this.capacity;
      this.dropped += 1;
    }
  }

  // Oldest first.
  toArray() {
    const out = [];
    for (let i = 0; i < this.size; i += 1) out.push(this.items[(this.start + i) % this.capacity]);
    return out;
  }

  clear() {
    this.items = new Array(this.capacity);
    this.start = 0;
    this.size = 0;
  }
}
