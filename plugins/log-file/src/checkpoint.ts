import { Type, type Static } from '@reactive-fabric/core';

/**
 * Per file: which inode we were reading, how far, and a fingerprint of the bytes up to there.
 * Inode + device detect rename rotation; the fingerprint detects copytruncate (same inode, new
 * content). Checkpoints written before `fp` existed are still valid: the check is then skipped.
 */
export const FilePositionSchema = Type.Object({
  dev: Type.Integer({ minimum: 0, description: 'st_dev of the file being read' }),
  ino: Type.Integer({ minimum: 0, description: 'st_ino of the file being read' }),
  offset: Type.Integer({ minimum: 0, description: 'Bytes consumed: the next read starts here' }),
  fp: Type.Optional(Type.String({ pattern: '^[0-9a-f]{8,64}$', description: 'sha256 (hex, shortened) of the first KiB and of the 256 bytes before offset' })),
  m: Type.Optional(Type.Number({ minimum: 0, description: 'At offset 0 only: the mtime (ms) the empty file had, to notice a copytruncate before the next poll' })),
});

/** The log-file plugin's checkpoint: `files` maps each configured (absolute) path to its position. */
export const LogFileCheckpointSchema = Type.Object({
  files: Type.Record(Type.String(), FilePositionSchema),
});

export type FilePosition = Static<typeof FilePositionSchema>;
export type LogFileCheckpoint = Static<typeof LogFileCheckpointSchema>;
