import { Inject, Injectable } from '@nestjs/common';
import {
  type ActiveVersion,
  GatewayError,
  type PolicyKind,
  type PolicyVersion,
  type ResponseOf,
} from '@sg/contracts';
import type { Pool } from '@sg/runtime';
import { createTwoFilesPatch } from 'diff';
import { createHash, randomUUID } from 'node:crypto';
import { parseDocument } from 'yaml';
import { PG } from '../approvals/approval-store.js';
import { type SignedFields, signedFieldsOf, VersionSigner } from './version-signer.js';

interface Row {
  id: string;
  seq: string;
  project: string;
  kind: PolicyKind;
  content: string;
  sha256: string;
  parent_id: string | null;
  author: string;
  source: PolicyVersion['source'];
  reason: string;
  created_at: Date;
  key_id: string | null;
  signature: string | null;
}

export interface NewVersion {
  project: string;
  kind: PolicyKind;
  content: string;
  author: string;
  source: PolicyVersion['source'];
  reason: string;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * What is stored of a file's text: model_keys with every agent `key` replaced by its
 * `key_sha256` (the gateway accepts either), so no agent key reaches the database; other kinds as
 * they are. Comments and layout are kept.
 */
export function storedContent(kind: PolicyKind, text: string): string {
  if (kind !== 'model_keys') return text;
  const doc = parseDocument(text);
  const models = doc.get('models', true) as
    { items?: Array<{ key: unknown; value: unknown }> } | undefined;
  for (const item of models?.items ?? []) {
    const model = item.value as
      | {
          get?: (k: string) => unknown;
          set?: (k: string, v: unknown) => void;
          delete?: (k: string) => void;
        }
      | undefined;
    const key = model?.get?.('key');
    if (typeof key !== 'string') continue;
    model!.delete!('key');
    model!.set!('key_sha256', sha256(key));
  }
  return doc.toString();
}

/**
 * Policy versions in PostgreSQL (`policy_versions`): each content a project's file has had, with
 * its parent, author, source, reason and signature. A new version is written under a
 * transaction-scoped advisory lock per project and kind, so instances recording the same change at
 * once store it once.
 */
@Injectable()
export class VersionStore {
  constructor(
    @Inject(PG) private readonly pool: Pool,
    private readonly signer: VersionSigner,
  ) {}

  /**
   * Stores `v` as the newest version of its project and kind, unless the newest already has this
   * content. `fileChangedAt`: for a file's content, the file's modification time; a file older
   * than the newest file version is an instance that has not seen the latest edit yet, and is not
   * recorded.
   */
  async record(
    v: NewVersion,
    fileChangedAt?: Date,
  ): Promise<{ version: PolicyVersion; created: boolean } | null> {
    const content = storedContent(v.kind, v.content);
    const digest = sha256(content);
    return this.guard(async () => {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
          `policy:${v.project}:${v.kind}`,
        ]);
        const latest = await client.query<Row>(
          'SELECT * FROM policy_versions WHERE project = $1 AND kind = $2 ORDER BY seq DESC LIMIT 1',
          [v.project, v.kind],
        );
        const head = latest.rows[0];
        if (head?.sha256 === digest) {
          await client.query('COMMIT');
          return { version: this.summary(head), created: false };
        }
        if (v.source === 'file' && head && fileChangedAt) {
          const lastFile = await client.query<{ created_at: Date; sha256: string }>(
            "SELECT created_at, sha256 FROM policy_versions WHERE project = $1 AND kind = $2 AND source = 'file' ORDER BY seq DESC LIMIT 1",
            [v.project, v.kind],
          );
          const f = lastFile.rows[0];
          // The file has not changed since it was last recorded (an API version is newer), or
          // this instance reads an older copy of it: the newest version stays.
          if (f && (f.sha256 === digest || fileChangedAt <= f.created_at)) {
            await client.query('COMMIT');
            return null;
          }
        }
        const id = randomUUID();
        const createdAt = new Date();
        const keyId = this.signer.keyId;
        const fields: SignedFields = {
          id,
          project: v.project,
          kind: v.kind,
          sha256: digest,
          parent_id: head?.id ?? null,
          author: v.author,
          source: v.source,
          reason: v.reason,
          created_at: createdAt.toISOString(),
          key_id: keyId ?? '',
        };
        const signature = this.signer.sign(fields);
        const inserted = await client.query<Row>(
          `INSERT INTO policy_versions (id, project, kind, content, sha256, parent_id, author, source, reason, created_at, key_id, signature)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
          [
            id,
            v.project,
            v.kind,
            content,
            digest,
            fields.parent_id,
            v.author,
            v.source,
            v.reason,
            createdAt,
            keyId,
            signature,
          ],
        );
        await client.query('COMMIT');
        return { version: this.summary(inserted.rows[0]!), created: true };
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    });
  }

  /**
   * The versions that override their files: per project and kind, the newest version whose
   * signature verifies, unless that is a file's own version (then the file is what runs). A newer
   * version that does not verify is skipped (the last good one stays) and reported in `refused`.
   */
  async active(): Promise<{ versions: ActiveVersion[]; refused: PolicyVersion[] }> {
    const newest = await this.guard(() =>
      this.pool.query<Row>(
        'SELECT DISTINCT ON (project, kind) * FROM policy_versions ORDER BY project, kind, seq DESC',
      ),
    );
    const versions: ActiveVersion[] = [];
    const refused: PolicyVersion[] = [];
    for (const head of newest.rows) {
      // The newest change was the file's: the file runs (its versions may be unsigned, when no
      // key is configured, and are never handed out).
      if (head.source === 'file') continue;
      let good: Row | undefined = head;
      if (!this.summary(head).verified) {
        refused.push(this.summary(head));
        const older = await this.guard(() =>
          this.pool.query<Row>(
            'SELECT * FROM policy_versions WHERE project = $1 AND kind = $2 AND seq < $3 ORDER BY seq DESC LIMIT 100',
            [head.project, head.kind, head.seq],
          ),
        );
        good = older.rows.find((r) => this.summary(r).verified);
      }
      if (!good || good.source === 'file') continue;
      versions.push({ id: good.id, project: good.project, kind: good.kind, content: good.content });
    }
    return { versions, refused };
  }

  /** A version of `project` (verified), for a rollback to it. */
  async verifiedVersion(id: string, project: string): Promise<Row> {
    const rows = await this.guard(() =>
      this.pool.query<Row>('SELECT * FROM policy_versions WHERE id = $1', [id]),
    );
    const r = rows.rows[0];
    if (!r || r.project !== project)
      throw new GatewayError(
        'POLICY.VERSION_NOT_FOUND',
        `project ${project} has no policy version ${id}; take an id from GET /api/policy/history?project=${project}`,
      );
    if (!this.summary(r).verified)
      throw new GatewayError(
        'POLICY.VERSION_UNVERIFIED',
        `policy version ${id} does not verify (its signature or content changed in PostgreSQL); it cannot be made active`,
      );
    return r;
  }

  /** A project's versions, newest first; `cursor` is the last page's `next_cursor`. */
  async history(q: {
    project: string;
    kind?: PolicyKind;
    cursor?: string;
    limit: number;
  }): Promise<ResponseOf<'gw.policy.history.v1'>> {
    let before: bigint | null = null;
    if (q.cursor !== undefined) {
      if (!/^[1-9][0-9]{0,18}$/.test(q.cursor))
        throw new GatewayError(
          'AUDIT.INVALID_CURSOR',
          'cursor: pass the next_cursor of the previous page, unchanged',
        );
      before = BigInt(q.cursor);
    }
    const rows = await this.guard(() =>
      this.pool.query<Row>(
        `SELECT * FROM policy_versions WHERE project = $1 AND ($2::text IS NULL OR kind = $2)
           AND ($3::bigint IS NULL OR seq < $3) ORDER BY seq DESC LIMIT $4`,
        [q.project, q.kind ?? null, before?.toString() ?? null, q.limit + 1],
      ),
    );
    const page = rows.rows.slice(0, q.limit);
    return {
      versions: page.map((r) => this.summary(r)),
      next_cursor: rows.rows.length > q.limit ? page[page.length - 1]!.seq : null,
    };
  }

  /** One version with its content and a unified diff against its parent. */
  async get(id: string): Promise<ResponseOf<'gw.policy.version.v1'>> {
    const rows = await this.guard(() =>
      this.pool.query<Row & { parent_content: string | null }>(
        `SELECT v.*, p.content AS parent_content FROM policy_versions v
           LEFT JOIN policy_versions p ON p.id = v.parent_id WHERE v.id = $1`,
        [id],
      ),
    );
    const r = rows.rows[0];
    if (!r) throw new GatewayError('POLICY.VERSION_NOT_FOUND', `no policy version ${id}`);
    const file = `${r.kind}/${r.project}.yaml`;
    const diff = createTwoFilesPatch(
      r.parent_id ? `${file}@${r.parent_id}` : '/dev/null',
      `${file}@${r.id}`,
      r.parent_content ?? '',
      r.content,
      undefined,
      undefined,
      { context: 3 },
    );
    return { ...this.summary(r), content: r.content, diff };
  }

  private summary(r: Row): PolicyVersion {
    const fields = signedFieldsOf(r);
    return {
      ...fields,
      kind: r.kind,
      source: r.source,
      key_id: r.key_id,
      // The signature covers the digest; the digest must be the content's.
      verified: sha256(r.content) === r.sha256 && this.signer.verify(fields, r.signature),
      signature: r.signature,
    };
  }

  private guard<T>(run: () => Promise<T>): Promise<T> {
    return guardStore(run);
  }
}

/**
 * A query of the policy service's store (versions, proposals): a GatewayError passes, anything
 * else is PostgreSQL out of reach (POLICY.VERSION_STORE_UNAVAILABLE).
 */
export async function guardStore<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError(
      'POLICY.VERSION_STORE_UNAVAILABLE',
      'the policy store (PostgreSQL) cannot be reached; retry shortly',
    );
  }
}
