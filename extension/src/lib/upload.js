// One file to the API with tus (tus-js-client): chunked, resumable from the stored upload URL,
// retried with back-off on a flaky network, with progress.
import { Upload } from "tus-js-client";
import { HeldFile } from "./held.js";

export const CHUNK_SIZE = 1024 * 1024;
export const RETRY_DELAYS = [0, 1000, 2000, 4000, 8000, 15000];

function start(item, { apiBase, headers, onUrl, onProgress, chunkSize = CHUNK_SIZE, fileReader }) {
  let upload;
  const done = new Promise((resolve, reject) => {
    upload = new Upload(item.media, {
      endpoint: `${apiBase}/v1/uploads`,
      uploadUrl: item.uploadUrl ?? null,
      chunkSize,
      retryDelays: RETRY_DELAYS,
      storeFingerprintForResuming: false,
      metadata: { filename: item.filename, filetype: item.filetype },
      ...(fileReader ? { fileReader } : {}),
      onBeforeRequest: async (request) => {
        for (const [name, value] of Object.entries(await headers())) request.setHeader(name, value);
      },
      onUploadUrlAvailable: () => onUrl(upload.url),
      onProgress,
      onSuccess: () => resolve(upload.url.split("/").pop()),
      onError: (error) => {
        const status = error.originalResponse?.getStatus?.() ?? 0;
        reject(Object.assign(new Error(error.message), { status }));
      },
    });
    upload.start();
  });
  return { upload, done };
}

// Resolves with the attachment id (the upload's id) once the whole file is on the API.
export function tusUpload(item, options) {
  return start(item, options).done;
}

// A recording's upload started as soon as the editor has it, while the person writes the ticket.
// Its end is held back (HeldFile), so until the ticket is filed the upload is unfinished: no
// attachment, nothing processed. finish() sends the end and resolves like tusUpload(); discard()
// terminates the upload; an abandoned one expires on the API (uploads.expiry_s).
export class UploadAhead {
  constructor(item, { apiBase, headers, chunkSize }) {
    this.file = new HeldFile(item.media);
    this.url = null;
    this.listeners = { onUrl: () => {}, onProgress: () => {} };
    const { upload, done } = start(item, {
      apiBase,
      headers,
      chunkSize,
      fileReader: this.file,
      onUrl: (url) => {
        this.url = url;
        return this.listeners.onUrl(url);
      },
      onProgress: (sent, total) => this.listeners.onProgress(sent, total),
    });
    this.upload = upload;
    this.done = done;
    done.catch(() => {}); // the error is the filing's to handle (finish() returns it)
  }

  finish({ onUrl, onProgress }) {
    this.listeners = { onUrl, onProgress };
    if (this.url) onUrl(this.url);
    this.file.release();
    return this.done;
  }

  discard() {
    return this.upload.abort(true).catch(() => {});
  }
}
