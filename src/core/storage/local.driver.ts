import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { mkdir, open, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { readFile as readFileCb, stat as statCb } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import {
  ObjectTooLargeError,
  PresignedUpload,
  StorageDriver,
  StoredObject,
} from './storage.driver';

const statFile = promisify(statCb);
const readFileAsync = promisify(readFileCb);
const readText = (path: string) => readFileAsync(path, 'utf8');

export interface UploadGrant {
  key: string;
  contentType: string;
  contentLength: number;
  expires: number;
}

/**
 * Files under STORAGE_LOCAL_DIR. Uploads go to the API itself (PUT /api/v1/waste/uploads?…)
 * with an HMAC-signed, expiring grant that binds the key, the content type and the exact size.
 */
export class LocalStorageDriver implements StorageDriver {
  readonly name = 'local' as const;
  private readonly root: string;

  constructor(
    rootDir: string,
    private readonly publicBaseUrl: string,
    private readonly secret: string,
  ) {
    this.root = resolve(rootDir);
  }

  private path(key: string): string {
    const p = resolve(this.root, key);
    if (!p.startsWith(this.root + sep)) throw new Error(`storage key escapes the root: ${key}`);
    return p;
  }

  private sign(g: UploadGrant): string {
    return createHmac('sha256', this.secret)
      .update(`upload\n${g.key}\n${g.contentType}\n${g.contentLength}\n${g.expires}`)
      .digest('base64url');
  }

  async presignUpload(
    key: string,
    contentType: string,
    contentLength: number,
    expiresAt: Date,
  ): Promise<PresignedUpload> {
    const grant: UploadGrant = {
      key,
      contentType,
      contentLength,
      expires: Math.floor(expiresAt.getTime() / 1000),
    };
    const q = new URLSearchParams({
      key,
      type: contentType,
      len: String(contentLength),
      exp: String(grant.expires),
      sig: this.sign(grant),
    });
    return {
      method: 'PUT',
      url: `${this.publicBaseUrl.replace(/\/$/, '')}/api/v1/waste/uploads?${q.toString()}`,
      headers: { 'Content-Type': contentType },
      expiresAt,
    };
  }

  /** Checks a grant from an upload URL's query; returns why it is refused, or the grant. */
  verifyGrant(q: Record<string, unknown>, now = Date.now()): UploadGrant | 'invalid' | 'expired' {
    const grant: UploadGrant = {
      key: String(q.key ?? ''),
      contentType: String(q.type ?? ''),
      contentLength: Number(q.len),
      expires: Number(q.exp),
    };
    const given = Buffer.from(String(q.sig ?? ''));
    const wanted = Buffer.from(this.sign(grant));
    if (!grant.key || given.length !== wanted.length || !timingSafeEqual(given, wanted))
      return 'invalid';
    if (grant.expires * 1000 < now) return 'expired';
    return grant;
  }

  async head(key: string): Promise<StoredObject | undefined> {
    try {
      // Both at once, with fs's callback API: fs/promises' readFile goes through a FileHandle
      // (open, fstat, read, close, each its own promise), which the profile of upload-complete
      // showed as most of this call's CPU (docs/benchmarks.md → API path, round 2).
      const path = this.path(key);
      const [s, meta] = await Promise.all([
        statFile(path),
        readText(path + '.meta').catch(() => undefined),
      ]);
      return {
        size: s.size,
        contentType: meta ? (JSON.parse(meta) as { contentType?: string }).contentType : undefined,
      };
    } catch {
      return undefined;
    }
  }

  async get(key: string, maxBytes: number): Promise<Buffer | undefined> {
    const file = await open(this.path(key), 'r').catch(() => undefined);
    if (!file) return undefined;
    try {
      const { size } = await file.stat();
      if (size > maxBytes) throw new ObjectTooLargeError(size);
      return await file.readFile();
    } finally {
      await file.close();
    }
  }

  async put(key: string, body: Buffer, contentType: string): Promise<void> {
    const p = this.path(key);
    // Write-then-rename so a reader never sees half a file.
    for (let attempt = 0; ; attempt++) {
      await mkdir(dirname(p), { recursive: true });
      try {
        await writeFile(`${p}.tmp`, body);
        break;
      } catch (err) {
        // A concurrent delete pruned the directory between mkdir and write.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
    await writeFile(`${p}.meta`, JSON.stringify({ contentType }));
    await rename(`${p}.tmp`, p);
  }

  /**
   * Deletes the objects, any upload still being written to them (`claimUpload`), and then their
   * directories if that left them empty. The unfinished upload goes first: a PUT renaming it
   * concurrently either lands before (and its original is deleted next) or finds it gone.
   */
  async delete(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => rm(this.uploadPath(k), { force: true })));
    await Promise.all(
      keys.flatMap((k) => [
        rm(this.path(k), { force: true }),
        rm(this.path(k) + '.meta', { force: true }),
      ]),
    );
    const dirs = new Set(keys.map((k) => dirname(this.path(k))));
    for (const dir of dirs) await this.pruneEmpty(dir);
  }

  /**
   * Removes `dir` and its parents while they are empty, stopping below the root's own children
   * (`uploads/`, `images/`): per-job and per-user directories would otherwise pile up by the
   * thousand. rmdir refuses a non-empty directory, so a concurrent writer's file is never lost;
   * a writer whose directory vanished between mkdir and open retries (`openTemp`, `put`).
   */
  private async pruneEmpty(dir: string): Promise<void> {
    const root = resolve(this.root);
    let current = resolve(dir);
    while (dirname(current) !== root && current.startsWith(root + sep)) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or already gone)
      }
      current = dirname(current);
    }
  }

  /**
   * Claims the one upload a key may receive: creates `<key>.upload` exclusively ('wx', O_EXCL)
   * and returns a stream into it, or `undefined` if another PUT holds the claim. The claim lives
   * in the storage directory every role shares (docs/pipeline.md → Storage drivers), so it holds
   * across API replicas and needs neither Redis nor a lock; it is released by `commitUpload`
   * (renamed onto the key) or `discardUpload`. Retries if a prune removed the directory.
   */
  async claimUpload(key: string): Promise<WriteStream | undefined> {
    const path = this.uploadPath(key);
    for (let attempt = 0; ; attempt++) {
      await mkdir(dirname(path), { recursive: true });
      try {
        const file = await open(path, 'wx');
        return file.createWriteStream();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return undefined;
        if (code !== 'ENOENT' || attempt >= 3) throw err;
      }
    }
  }

  /** Drops a claimed upload (refused, cut off, aborted) and the directories that left empty. */
  async discardUpload(key: string): Promise<void> {
    await rm(this.uploadPath(key), { force: true });
    if (!(await this.head(key))) await rm(this.path(key) + '.meta', { force: true });
    await this.pruneEmpty(dirname(this.path(key)));
  }

  /**
   * Moves a claimed upload onto its key. False when the claim is gone: the job ended meanwhile
   * and `delete` removed the unfinished upload; the caller then refuses the PUT.
   */
  async commitUpload(key: string, contentType: string): Promise<boolean> {
    const p = this.path(key);
    await writeFile(`${p}.meta`, JSON.stringify({ contentType }));
    try {
      await rename(this.uploadPath(key), p);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.discardUpload(key);
      return false;
    }
  }

  async ping(): Promise<boolean> {
    try {
      await mkdir(this.root, { recursive: true });
      return true;
    } catch {
      return false;
    }
  }

  /** The fixed temp path of a key's upload: its name is the claim (`claimUpload`). */
  private uploadPath(key: string): string {
    return `${this.path(key)}.upload`;
  }
}
