import { Controller, HttpCode, Inject, Put, Query, Req } from '@nestjs/common';
import { ApiExcludeEndpoint } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { ProblemException } from '../../core/http/problem';
import { LocalStorageDriver } from '../../core/storage/local.driver';
import { STORAGE_DRIVER, StorageDriver } from '../../core/storage/storage.driver';
import { jobIdOfOriginalKey } from './pipeline/storage-keys';
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
   * Whether the link may still store its photo: its job exists and waits for one, and no photo
   * was stored. A finished job's original is deleted, so the status is what says "spent" then.
   */
  private async linkOpen(key: string): Promise<boolean> {
    const jobId = jobIdOfOriginalKey(key);
    const job = jobId ? await this.jobs.get(jobId) : undefined;
    return job?.status === 'awaiting_upload' && !(await this.storage.head(key));
  }

  @Put()
  @HttpCode(200)
  @ApiExcludeEndpoint()
  async upload(
    @Query() query: Record<string, string>,
    @Req() req: FastifyRequest,
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
    // One PUT per link (docs/pipeline.md → Storage drivers): claim first, atomically, then
    // check — a check before the claim would let every PUT that starts before the first one
    // commits pass it. A concurrent PUT finds the claim taken; one after the commit finds the
    // original or a job that moved on.
    const file = await this.storage.claimUpload(grant.key);
    if (!file) throw linkUsed();
    if (!(await this.linkOpen(grant.key))) {
      file.destroy();
      await this.storage.discardUpload(grant.key);
      throw linkUsed();
    }
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
      // The body parser leaves this route's stream unread (bootstrap.ts → registerJsonBody).
      await pipeline(req.raw, limit, file);
      if (received !== grant.contentLength) {
        throw new ProblemException(
          400,
          'UPLOAD_MISMATCH',
          `received ${received} bytes, expected ${grant.contentLength}`,
        );
      }
      // The job may have ended while the body arrived (expired, or the link's original was
      // deleted with it): then the photo is refused rather than stored for nobody.
      if (!(await this.linkOpen(grant.key))) throw linkUsed();
    } catch (err) {
      file.destroy();
      await this.storage.discardUpload(grant.key);
      throw err;
    }
    // False when the job ended between that check and the rename (its delete took the upload).
    if (!(await this.storage.commitUpload(grant.key, grant.contentType))) throw linkUsed();
    return { stored: true };
  }
}

function linkUsed(): ProblemException {
  return new ProblemException(
    409,
    'UPLOAD_LINK_USED',
    'a photo was already uploaded with this link, or its job has moved on; start a new analysis for another',
  );
}
