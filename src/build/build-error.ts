import { BaseError } from '../core/index.ts';

export type BuildErrorCode =
  /** A layer's `to`, a glob, a mode, an id or an entry list is malformed. */
  | 'LAYER_INVALID'
  /** A symlink's target leaves the layer's `from` directory. */
  | 'SOURCE_ESCAPE'
  /** A file or directory cannot be read (permissions, I/O error). */
  | 'SOURCE_UNREADABLE'
  /** A socket, FIFO or device file is in the layer. */
  | 'SOURCE_UNSUPPORTED'
  /** A file changed, vanished or was replaced between collecting and packaging. */
  | 'SOURCE_CHANGED'
  /** A file or symlink-target name is not valid UTF-8. */
  | 'NAME_INVALID'
  /** Writing or compressing the layer blob failed. */
  | 'LAYER_FAILED'
  /** A packaged file holds a likely secret (see secret-scan.ts). */
  | 'SECRET_FOUND';

/** An error of `fixity build`; `detail.path` names the file when one is at fault. */
export class BuildError extends BaseError<BuildErrorCode> {}

/** Maps a file-system error on `path` (host path shown to the user) to a BuildError. */
export function toSourceError(err: unknown, path: string, action = 'read'): BuildError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const detail = { path };
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') {
    return new BuildError('SOURCE_CHANGED', `Cannot ${action} ${path}: it vanished or was replaced during the build`, {
      cause: err,
      detail,
    });
  }
  const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : String((err as Error)?.message ?? err);
  return new BuildError('SOURCE_UNREADABLE', `Cannot ${action} ${path}: ${reason}`, { cause: err, detail });
}
