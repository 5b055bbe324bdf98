/**
 * Reading SQLite WAL files (https://www.sqlite.org/fileformat2.html#walformat) to build power-loss images.
 *
 * A WAL starts with a 32-byte header (magic, version, page size, checkpoint sequence, salt-1, salt-2, checksum-1,
 * checksum-2) followed by frames of a 24-byte header (page number, database size after commit or 0, salt-1, salt-2,
 * checksum-1, checksum-2) and one page. A frame is valid when its salts match the header's and its cumulative
 * checksum is right; recovery replays the valid frames up to the last commit frame (database size != 0) and ignores
 * everything after it, including frames of an earlier WAL generation (other salts).
 */

export interface WalFrame {
  offset: number;
  pgno: number;
  /** Database size in pages after this commit; 0 for frames that are not the last of a transaction. */
  commitSize: number;
}

export interface WalInfo {
  pageSize: number;
  salt1: number;
  salt2: number;
  /** Valid frames of the current generation, in order (up to the first invalid one). */
  frames: WalFrame[];
  /** Byte offset just past the last valid commit frame (32 when there is none). */
  committedEnd: number;
  /** Number of committed transactions in the current generation. */
  commits: number;
}

const WAL_HEADER = 32;
const FRAME_HEADER = 24;

function checksum(buf: Buffer, start: number, end: number, bigEndian: boolean, s: [number, number]): [number, number] {
  let s0 = s[0];
  let s1 = s[1];
  for (let i = start; i < end; i += 8) {
    const x0 = bigEndian ? buf.readUInt32BE(i) : buf.readUInt32LE(i);
    const x1 = bigEndian ? buf.readUInt32BE(i + 4) : buf.readUInt32LE(i + 4);
    s0 = (s0 + x0 + s1) >>> 0;
    s1 = (s1 + x1 + s0) >>> 0;
  }
  return [s0, s1];
}

/** Parses a WAL file; undefined when it is empty or has no valid header. */
export function parseWal(buf: Buffer): WalInfo | undefined {
  if (buf.length < WAL_HEADER) return undefined;
  const magic = buf.readUInt32BE(0);
  if (magic !== 0x377f0682 && magic !== 0x377f0683) return undefined;
  const bigEndian = magic === 0x377f0683;
  const pageSize = buf.readUInt32BE(8);
  const salt1 = buf.readUInt32BE(16);
  const salt2 = buf.readUInt32BE(20);
  let sum = checksum(buf, 0, 24, bigEndian, [0, 0]);
  if (sum[0] !== buf.readUInt32BE(24) || sum[1] !== buf.readUInt32BE(28)) return undefined;
  const frames: WalFrame[] = [];
  let committedEnd = WAL_HEADER;
  let commits = 0;
  for (let off = WAL_HEADER; off + FRAME_HEADER + pageSize <= buf.length; off += FRAME_HEADER + pageSize) {
    const pgno = buf.readUInt32BE(off);
    const commitSize = buf.readUInt32BE(off + 4);
    if (pgno === 0 || buf.readUInt32BE(off + 8) !== salt1 || buf.readUInt32BE(off + 12) !== salt2) break;
    sum = checksum(buf, off, off + 8, bigEndian, sum);
    sum = checksum(buf, off + FRAME_HEADER, off + FRAME_HEADER + pageSize, bigEndian, sum);
    if (sum[0] !== buf.readUInt32BE(off + 16) || sum[1] !== buf.readUInt32BE(off + 20)) break;
    frames.push({ offset: off, pgno, commitSize });
    if (commitSize !== 0) {
      committedEnd = off + FRAME_HEADER + pageSize;
      commits++;
    }
  }
  return { pageSize, salt1, salt2, frames: frames.filter((f) => f.offset < committedEnd), committedEnd, commits };
}

/**
 * The newest committed content of every page in the WAL (what a checkpoint would write into the database file).
 */
export function committedPages(buf: Buffer, info: WalInfo): Map<number, Buffer> {
  const pages = new Map<number, Buffer>();
  for (const f of info.frames) pages.set(f.pgno, buf.subarray(f.offset + FRAME_HEADER, f.offset + FRAME_HEADER + info.pageSize));
  return pages;
}
