import { describe, expect, it } from 'vitest';
import { deleteIn, dotted, expandPattern, getIn, segmentsOf, setIn } from '../../src/config/config-tree.js';

describe('the raw configuration tree', () => {
  const tree = () => ({ openim: { apiUrl: 'http://x' }, subscribers: [{ name: 'a', secretFile: 'f' }, { name: 'b' }], mode: 'active' });

  it('reads a value through mappings and list items, undefined past anything else', () => {
    expect(getIn(tree(), ['openim', 'apiUrl'])).toBe('http://x');
    expect(getIn(tree(), ['subscribers', 1, 'name'])).toBe('b');
    expect(getIn(tree(), ['subscribers', '1', 'name'])).toBeUndefined();
    expect(getIn(tree(), ['mode', 'x'])).toBeUndefined();
    expect(getIn(tree(), [])).toEqual(tree());
  });

  it('sets a value creating missing sections, and refuses to go through a value that is not a mapping', () => {
    const t: Record<string, unknown> = tree();
    expect(setIn(t, ['poll', 'intervalSeconds'], 60)).toBe(true);
    expect(t.poll).toEqual({ intervalSeconds: 60 });
    expect(setIn(t, ['mode', 'x'], 1)).toBe(false);
    expect(t.mode).toBe('active');
  });

  it('deletes a key of a mapping and ignores a path that leads nowhere', () => {
    const t: Record<string, unknown> = tree();
    deleteIn(t, ['openim', 'apiUrl']);
    deleteIn(t, ['nothing', 'here']);
    expect(t.openim).toEqual({});
  });

  it('expands * to every list item present; the last key is given whether it is set or not', () => {
    expect(expandPattern(tree(), ['subscribers', '*', 'secretFile'])).toEqual([
      ['subscribers', 0, 'secretFile'],
      ['subscribers', 1, 'secretFile'],
    ]);
    expect(expandPattern(tree(), ['openim', 'secretFile'])).toEqual([['openim', 'secretFile']]);
    expect(expandPattern({ subscribers: 'no list' }, ['subscribers', '*', 'secretFile'])).toEqual([]);
    expect(expandPattern({}, ['api', 'tokensFile'])).toEqual([['api', 'tokensFile']]);
    expect(expandPattern({ api: 5 }, ['api', 'x', 'y'])).toEqual([]);
  });

  it('converts between dotted paths and segments, list indexes as numbers', () => {
    expect(dotted(['subscribers', 0, 'name'])).toBe('subscribers.0.name');
    expect(segmentsOf('subscribers.0.name')).toEqual(['subscribers', 0, 'name']);
    expect(segmentsOf('OPR_X')).toEqual(['OPR_X']);
  });
});
