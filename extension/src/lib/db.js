// IndexedDB of the extension's origin: captures waiting to be filed (`drafts`) and the
// submission queue (`queue`). Shared by the service worker, the offscreen document and pages.
const NAME = "ticketcreator";
const STORES = ["drafts", "queue"];

// One connection per page or worker, opened on first use and kept.
let connection = null;

function open() {
  connection ??= connect().catch((error) => {
    connection = null;
    throw error;
  });
  return connection;
}

function connect() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, 1);
    request.onupgradeneeded = () => {
      for (const store of STORES) {
        if (!request.result.objectStoreNames.contains(store)) {
          request.result.createObjectStore(store, { keyPath: "id" });
        }
      }
    };
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => {
        db.close();
        connection = null;
      };
      db.onclose = () => {
        connection = null;
      };
      resolve(db);
    };
    request.onerror = () => reject(request.error);
  });
}

function run(storeName, mode, operation) {
  return open().then(
    (db) =>
      new Promise((resolve, reject) => {
        const tx = db.transaction(storeName, mode);
        const request = operation(tx.objectStore(storeName));
        tx.oncomplete = () => resolve(request.result);
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
