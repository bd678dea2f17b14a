// One file to the API with tus (tus-js-client): chunked, resumable from the stored upload URL,
// retried with back-off on a flaky network, with progress.
import { Upload } from "tus-js-client";

export const CHUNK_SIZE = 1024 * 1024;
export const RETRY_DELAYS = [0, 1000, 2000, 4000, 8000, 15000];

export function tusUpload(item, { apiBase, headers, onUrl, onProgress, chunkSize = CHUNK_SIZE }) {
  return new Promise((resolve, reject) => {
    const upload = new Upload(item.media, {
      endpoint: `${apiBase}/v1/uploads`,
      uploadUrl: item.uploadUrl ?? null,
      chunkSize,
      retryDelays: RETRY_DELAYS,
      storeFingerprintForResuming: false,
      metadata: { filename: item.filename, filetype: item.filetype },
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
}
