/**
 * The raw configuration tree while it is being assembled from its sources (docs/architecture.md, where each part
 * lives: `src/config/`): plain mappings and lists addressed by key path segments, before the schema validates it.
 */

/** A mapping of the raw tree. */
export type Plain = Record<string, unknown>;
/** One step of a key path: a key of a mapping or the index of a list item. */
export type Segment = string | number;

export function isPlain(value: unknown): value is Plain {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `a.0.b`, the dotted form of a key path. */
export const dotted = (segments: readonly Segment[]): string => segments.map(String).join('.');

/** `a.0.b` → `['a', 0, 'b']`: the segments of a dotted path, list indexes as numbers. */
export function segmentsOf(path: string): Segment[] {
  return path.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** The value at a key path, or undefined when the path leads through something that is not a mapping or list. */
export function getIn(root: unknown, segments: readonly Segment[]): unknown {
  let current = root;
  for (const seg of segments) {
    if (Array.isArray(current) && typeof seg === 'number') current = current[seg] as unknown;
    else if (isPlain(current)) current = current[String(seg)];
    else return undefined;
  }
  return current;
}

/** Sets a value, creating missing sections; returns false when a section on the way is not a mapping. */
export function setIn(root: Plain, segments: readonly string[], value: unknown): boolean {
  let current: Plain = root;
  for (const seg of segments.slice(0, -1)) {
    const next = current[seg] ?? (current[seg] = {});
    if (!isPlain(next)) return false;
    current = next;
  }
  const last = segments[segments.length - 1];
  if (last !== undefined) current[last] = value;
  return true;
}

/** Removes the key at a path, if its parent is a mapping. */
export function deleteIn(root: Plain, segments: readonly string[]): void {
  const parent = getIn(root, segments.slice(0, -1));
  const last = segments[segments.length - 1];
  if (isPlain(parent) && last !== undefined) Reflect.deleteProperty(parent, last);
}

/** All concrete paths matching a pattern whose `*` stands for every list item present. */
export function expandPattern(root: unknown, pattern: readonly string[], prefix: Segment[] = []): Segment[][] {
  const [head, ...rest] = pattern;
  if (head === undefined) return [prefix];
  if (head === '*') {
    if (!Array.isArray(root)) return [];
    return root.flatMap((item, index) => expandPattern(item, rest, [...prefix, index]));
  }
  if (rest.length === 0) return [[...prefix, head]];
  return isPlain(root) ? expandPattern(root[head], rest, [...prefix, head]) : [];
}
