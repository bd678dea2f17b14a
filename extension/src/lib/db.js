// IndexedDB of the extension's origin: captures waiting to be filed (`drafts`) and the
// submission queue (`queue`). Shared by the service worker, the offscreen document and pages.
const NAME = "ticketcreator";
const STORES = ["drafts", "queue"];

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, 1);
    request.onupgradeneeded = () => {
      for (const store of STORES) {
        if (!request.result.objectStoreNames.contains(store)) {
          request.result.createObjectStore(store, { keyPath: "id" });
        }
      }
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

function run(storeName, mode, operation) {
  return open().then(
    (db) =>
      new Promise((resolve, reject) => {
        const tx = db.transaction(storeName, mode);
        const request = operation(tx.objectStore(storeName));
        tx.oncomplete = () => {
          db.close();
          resolve(request.result);
        };
        tx.onerror = () => reject(tx.error);
      }),
  );
}

export class IdbStore {
  constructor(storeName) {
    this.storeName = storeName;
  }
  get(id) {
    return run(this.storeName, "readonly", (store) => store.get(id));
  }
  put(item) {
    return run(this.storeName, "readwrite", (store) => store.put(item));
  }
  all() {
    return run(this.storeName, "readonly", (store) => store.getAll());
  }
  delete(id) {
    return run(this.storeName, "readwrite", (store) => store.delete(id));
  }
}
