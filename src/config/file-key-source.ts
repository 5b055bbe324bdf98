/**
 * The `*File` keys (FILE_KEYS in the schema): each names a file whose trimmed content replaces its sibling key, so
 * secrets can live in files (`openim.secretFile` → `openim.secret`; `api.tokensFile` → `api.tokens`, one token per
 * line, blank lines and `#` comments ignored). Relative paths resolve against the loader's `cwd`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ConfigIssue } from '../errors.js';
import { findConfigKey } from './config-reference.js';
import { dotted, expandPattern, getIn, isPlain } from './config-tree.js';
import type { Plain } from './config-tree.js';
import { fileReadReason } from './file-read-reason.js';
import { FILE_KEYS } from './schema.js';

/** For `x` or `xFile` in FILE_KEYS, the other key of the pair (top-level patterns only). */
export function filePartner(path: string): string | undefined {
  if ((FILE_KEYS as readonly string[]).includes(path)) return path.replace(/File$/, '');
  if ((FILE_KEYS as readonly string[]).includes(`${path}File`)) return `${path}File`;
  return undefined;
}

/**
 * Replaces each `*File` key's sibling with the content of the named file (one entry per line for lists), recording
 * where the value came from in `sources`. Returns the problems: both keys set, unreadable or empty file.
 */
export function readFileKeys(data: Plain, cwd: string, sources: Map<string, string>): ConfigIssue[] {
  const fileIssues: ConfigIssue[] = [];
  for (const pattern of FILE_KEYS) {
    for (const fileSegments of expandPattern(data, pattern.split('.'))) {
      const filePath = getIn(data, fileSegments);
      if (typeof filePath !== 'string') continue; // a wrong type is reported by the schema
      const fileKey = dotted(fileSegments);
      const targetSegments = [
        ...fileSegments.slice(0, -1),
        String(fileSegments[fileSegments.length - 1]).replace(/File$/, ''),
      ];
      const target = dotted(targetSegments);
      if (getIn(data, targetSegments) !== undefined) {
        fileIssues.push({
          path: fileKey,
          value: filePath,
          message: `both ${target} and ${fileKey} are set; set only one of them`,
        });
        continue;
      }
      if (filePath.trim() === '') {
        fileIssues.push({ path: fileKey, value: filePath, message: `must be the path of a file holding ${target}` });
        continue;
      }
      let text: string;
      try {
        text = readFileSync(resolve(cwd, filePath), 'utf8');
      } catch (error) {
        fileIssues.push({
          path: fileKey,
          value: filePath,
          message: `cannot read the file holding ${target}: ${fileReadReason(error)}`,
        });
        continue;
      }
      const isList = findConfigKey(target)?.kind === 'array';
      const value = isList
        ? text
            .split(/\r?\n/)
            .map((line) => line.trim())
            .filter((line) => line !== '' && !line.startsWith('#'))
        : text.trim();
      if (value.length === 0) {
        fileIssues.push({
          path: fileKey,
          value: filePath,
          message: `the file is empty; it must hold ${isList ? 'one value per line' : target}`,
        });
        continue;
      }
      const parent = getIn(data, fileSegments.slice(0, -1));
      if (isPlain(parent)) {
        parent[String(targetSegments[targetSegments.length - 1])] = value;
        sources.set(target, `read from ${filePath}`);
      }
    }
  }
  return fileIssues;
}
