import { mcpResultBody } from './mcp-upstream.js';

describe('mcpResultBody', () => {
  it('prefers structuredContent', () => {
    expect(
      mcpResultBody({ structuredContent: { a: 1 }, content: [{ type: 'text', text: 'ignored' }] }),
    ).toEqual({ a: 1 });
  });

  it('parses a single text item that is a JSON object or array, and keeps other text as is', () => {
    expect(mcpResultBody({ content: [{ type: 'text', text: ' {"a":[1,2]} ' }] })).toEqual({
      a: [1, 2],
    });
    expect(mcpResultBody({ content: [{ type: 'text', text: '[1]' }] })).toEqual([1]);
    expect(mcpResultBody({ content: [{ type: 'text', text: '42' }] })).toBe('42');
    expect(mcpResultBody({ content: [{ type: 'text', text: '{not json' }] })).toBe('{not json');
    expect(mcpResultBody({ content: [{ type: 'text', text: 'plain words' }] })).toBe('plain words');
  });

  it('returns several items, or non-text ones, as the content array; nothing as null', () => {
    const content = [
      { type: 'text', text: 'a' },
      { type: 'image', data: 'AAAA', mimeType: 'image/png' },
    ];
    expect(mcpResultBody({ content })).toEqual(content);
    expect(mcpResultBody({ content: [content[1]] })).toEqual([content[1]]);
    expect(mcpResultBody({ content: [] })).toBeNull();
    expect(mcpResultBody({ toolResult: { legacy: true } })).toEqual({ legacy: true });
  });
});
