import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import {
  ObjectTooLargeError,
  PresignedUpload,
  StorageDriver,
  StoredObject,
} from './storage.driver';

export interface S3DriverOptions {
  bucket: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
}

/** S3 or any S3-compatible store (endpoint + path-style), credentials from the SDK's chain. */
export class S3StorageDriver implements StorageDriver {
  readonly name = 's3' as const;
  readonly client: S3Client;

  constructor(private readonly opts: S3DriverOptions) {
    this.client = new S3Client({
      region: opts.region,
      endpoint: opts.endpoint,
      forcePathStyle: opts.forcePathStyle,
      maxAttempts: 3,
      // The SDK sets no socket deadlines by default: a store that accepts and never answers would
      // hold a pipeline stage (or a job's end: JobsService.announce) indefinitely.
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 15_000 },
    });
  }

  async presignUpload(
    key: string,
    contentType: string,
    contentLength: number,
    expiresAt: Date,
  ): Promise<PresignedUpload> {
    const cmd = new PutObjectCommand({
      Bucket: this.opts.bucket,
      Key: key,
      ContentType: contentType,
      ContentLength: contentLength,
    });
    const expiresIn = Math.max(1, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
    const url = await getSignedUrl(this.client, cmd, {
      expiresIn,
      // Bind the type and the exact size into the signature: S3 refuses any other upload.
      signableHeaders: new Set(['content-type', 'content-length']),
    });
    return { method: 'PUT', url, headers: { 'Content-Type': contentType }, expiresAt };
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      const r = await this.client.send(
        new HeadObjectCommand({ Bucket: this.opts.bucket, Key: key }),
      );
      return { size: Number(r.ContentLength ?? 0), contentType: r.ContentType };
    } catch (err) {
      if (
        err instanceof NotFound ||
        (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404)
      ) {
        return undefined;
      }
      throw err;
    }
  }

  async get(key: string, maxBytes: number): Promise<Buffer | undefined> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({ Bucket: this.opts.bucket, Key: key }),
      );
      const size = Number(r.ContentLength ?? 0);
      if (size > maxBytes) {
        (r.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw new ObjectTooLargeError(size);
      }
      const bytes = await r.Body!.transformToByteArray();
      if (bytes.length > maxBytes) throw new ObjectTooLargeError(bytes.length);
      return Buffer.from(bytes);
    } catch (err) {
      if (
        err instanceof S3ServiceException &&
        (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404)
      ) {
        return undefined;
      }
      throw err;
    }
  }

  async put(key: string, body: Buffer, contentType: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.opts.bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
      }),
    );
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const chunk = keys.slice(i, i + 1000);
      if (!chunk.length) continue;
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.opts.bucket,
          Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }

  async ping(): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.opts.bucket }));
      return true;
    } catch {
      return false;
    }
  }
}
