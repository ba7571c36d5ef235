import { Controller, HttpCode, Inject, Put, Query, Req } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import type { Request } from 'express';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { ProblemException } from '../../core/http/problem';
import { LocalStorageDriver } from '../../core/storage/local.driver';
import { STORAGE_DRIVER, StorageDriver } from '../../core/storage/storage.driver';
import { JobsService } from './jobs/jobs.service';

/**
 * The `local` storage driver's upload target: the signed URL handed out by POST /waste/analyze
 * points here. The signature binds key, type and exact size; the body is streamed to disk and
 * cut off at the declared size.
 */
@Controller('waste/uploads')
export class UploadsController {
  constructor(
    @Inject(STORAGE_DRIVER) private readonly storage: StorageDriver,
    private readonly jobs: JobsService,
  ) {}

  /**
   * One PUT per link: once a photo is stored, or its job has moved on (queued, processed,
   * ended; the original is deleted by then), the link is spent — a second PUT is a 409, not a
   * fresh original nobody would ever delete.
   */
  private async refuseUsedLink(key: string): Promise<void> {
    const jobId = /^uploads\/[^/]+\/([^/]+)\/original$/.exec(key)?.[1];
    const job = jobId ? await this.jobs.get(jobId) : undefined;
    const stored = await this.storage.head(key);
    if (stored || !job || job.status !== 'awaiting_upload') {
      throw new ProblemException(
        409,
        'UPLOAD_LINK_USED',
        'a photo was already uploaded with this link; start a new analysis for another',
      );
    }
  }

  @Put()
  @HttpCode(200)
  @ApiExcludeEndpoint()
  async upload(
    @Query() query: Record<string, string>,
    @Req() req: Request,
  ): Promise<{ stored: true }> {
    if (!(this.storage instanceof LocalStorageDriver)) {
      throw new ProblemException(
        404,
        'NOT_FOUND',
        'uploads go straight to object storage in this deployment',
      );
    }
    const grant = this.storage.verifyGrant(query);
    if (grant === 'invalid')
      throw new ProblemException(403, 'SIGNATURE_INVALID', 'the upload link is not valid');
    if (grant === 'expired')
      throw new ProblemException(410, 'UPLOAD_EXPIRED', 'the upload link has expired');
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
    if (type !== grant.contentType) {
      throw new ProblemException(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `this link accepts ${grant.contentType} only`,
      );
    }
    const declared = Number(req.headers['content-length']);
    if (req.headers['content-length'] !== undefined && declared !== grant.contentLength) {
      throw new ProblemException(
        400,
        'UPLOAD_MISMATCH',
        `this link accepts exactly ${grant.contentLength} bytes`,
      );
    }
    await this.refuseUsedLink(grant.key);
    const { path: temp, stream: file } = await this.storage.openTemp(grant.key);
    let received = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        if (received > grant.contentLength)
          cb(new ProblemException(413, 'PAYLOAD_TOO_LARGE', 'more bytes than the link allows'));
        else cb(null, chunk);
      },
    });
    try {
      await pipeline(req, limit, file);
      if (received !== grant.contentLength) {
        throw new ProblemException(
          400,
          'UPLOAD_MISMATCH',
          `received ${received} bytes, expected ${grant.contentLength}`,
        );
      }
      await this.storage.commitUpload(temp, grant.key, grant.contentType);
      return { stored: true };
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }
}
