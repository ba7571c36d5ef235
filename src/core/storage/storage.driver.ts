/**
 * File storage behind one interface (twenty's "core module + driver"): `local` (disk, uploads
 * signed by the API itself) and `s3` (any S3-compatible store). Keys are relative paths such as
 * `uploads/<userId>/<jobId>/original`.
 */
export interface PresignedUpload {
  method: 'PUT';
  url: string;
  /** Headers the client must send exactly. */
  headers: Record<string, string>;
  expiresAt: Date;
}

export interface StoredObject {
  size: number;
  contentType?: string;
}

export interface StorageDriver {
  readonly name: 'local' | 's3';
  presignUpload(
    key: string,
    contentType: string,
    contentLength: number,
    expiresAt: Date,
  ): Promise<PresignedUpload>;
  head(key: string): Promise<StoredObject | undefined>;
  /** Reads an object, refusing more than `maxBytes` (never buffers an unbounded object). */
  get(key: string, maxBytes: number): Promise<Buffer | undefined>;
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  delete(keys: string[]): Promise<void>;
  ping(): Promise<boolean>;
}

export const STORAGE_DRIVER = Symbol('STORAGE_DRIVER');

export class ObjectTooLargeError extends Error {
  constructor(readonly size: number) {
    super(`object is ${size} bytes, over the limit`);
    this.name = 'ObjectTooLargeError';
  }
}
