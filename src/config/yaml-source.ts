/**
 * The YAML file source of the configuration: the file's mappings as a raw tree, and where in the file each key was
 * written, so a problem can name its line.
 */
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { ConfigFileError } from '../errors.js';
import { describeConfigKeys } from './config-reference.js';
import { deleteIn, getIn, isPlain } from './config-tree.js';
import type { Plain, Segment } from './config-tree.js';
import { fileReadReason } from './file-read-reason.js';

export interface YamlSource {
  /** The file's content; a section left empty (all its keys commented out) is absent. */
  data: Plain;
  /** `at <file> line N` for the node at (or nearest above) a path, if the file has it. */
  locate(segments: readonly Segment[]): string | undefined;
}

/**
 * Reads and parses a YAML configuration file. Throws {@link ConfigFileError} when it cannot be read, is not valid
 * YAML (a key given twice included), or its top level is not a mapping.
 */
export function readYaml(file: string): YamlSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigFileError(file, fileReadReason(error), { cause: error });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const reasons = doc.errors.map((e) => {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      return `invalid YAML at line ${line}, column ${col}: ${e.message.split('\n')[0] ?? e.code}`;
    });
    throw new ConfigFileError(file, reasons.join('; '));
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigFileError(file, `invalid YAML: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  if (data === null || data === undefined) data = {};
  if (!isPlain(data)) {
    throw new ConfigFileError(
      file,
      `the top level must be a mapping of keys (mode, openim, webhook, …), not ${Array.isArray(data) ? 'a list' : typeof data}`,
    );
  }
  const plain = data;
  // A section whose keys are all commented out reads as null in YAML: treat it as empty.
  for (const info of describeConfigKeys()) {
    if (info.kind === 'object' && !info.path.includes('*') && getIn(plain, info.path.split('.')) === null) {
      deleteIn(plain, info.path.split('.'));
    }
  }
  const locate = (segments: readonly Segment[]): string | undefined => {
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const seg of segments) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (isScalar(pair.key) && pair.key.range) offset = pair.key.range[0];
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        const range = (node as { range?: [number, number, number] } | undefined)?.range;
        if (range) offset = range[0];
      } else {
        break;
      }
    }
    return offset === undefined ? undefined : `at ${file} line ${lineCounter.linePos(offset).line}`;
  };
  return { data: plain, locate };
}
