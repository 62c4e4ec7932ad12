import { policyFileSchema, type ToolFile } from '@sg/config';
import { parse } from 'yaml';
import { checkGuardrails, mergeProposal } from './guardrails.js';

const LIVE = [
  '# the live policy',
  'rules:',
  '  - model: gpt-4o',
  '    allow_tools: ["calendar.*"]',
  '    deny_tools: ["calendar.delete_*"]',
  '    requires_approval: ["calendar.share_*"]',
  '  - model: claude',
  '    allow_tools: ["reports.*"]',
  'forbidden_fields: [password, token]',
  'rate_limits:',
  '  agent: { limit: 60, window_s: 60 }',
  '',
].join('\n');

const tool = (name: string, flags: Partial<ToolFile> = {}) =>
  [
    name,
    { name, requires_approval: false, pii: false, writes: false, ...flags } as ToolFile,
  ] as const;
const TOOLS = new Map([
  tool('calendar.list_events'),
  tool('reports.weekly'),
  tool('db.write_sensitive', { writes: true }),
  tool('hr.salaries', { pii: true }),
  tool('payments.send', { requires_approval: true }),
]);

function check(snippetYaml: string, proposer = 'gpt-4o') {
  const snippet = parse(snippetYaml) as Record<string, unknown>;
  const mergedText = mergeProposal(LIVE, snippet);
  return {
    mergedText,
    results: checkGuardrails({
      proposer,
      snippet,
      live: policyFileSchema.parse(parse(LIVE)),
      merged: policyFileSchema.parse(parse(mergedText)),
      tools: TOOLS,
    }),
  };
}
const failing = (snippetYaml: string, proposer?: string) =>
  check(snippetYaml, proposer)
    .results.filter((r) => !r.pass)
    .map((r) => r.name);
const own = (allow: string, deny = '["calendar.delete_*"]', approval = '["calendar.share_*"]') =>
  `rules:\n  - model: gpt-4o\n    allow_tools: ${allow}\n    deny_tools: ${deny}\n    requires_approval: ${approval}\n`;

it('passes a proposal that adds a read-only tool to its own rules, and merges it in place', () => {
  const { results, mergedText } = check(own('["calendar.*", "reports.*"]'));
  expect(results.every((r) => r.pass)).toBe(true);
  expect(mergedText).toContain('# the live policy');
  expect(mergedText).toContain('model: claude'); // another model's rule stays
  expect(mergedText.match(/model: gpt-4o/g)).toHaveLength(1);
});

it.each<[string, string, string[], string?]>([
  [
    'widening to a write tool',
    own('["calendar.*", "db.write_sensitive"]'),
    ['no_sensitive_widening'],
  ],
  ['widening to a pii tool', own('["calendar.*", "hr.*"]'), ['no_sensitive_widening']],
  ['widening to a tool that needs approval', own('["payments.send"]'), ['no_sensitive_widening']],
  ['an allow of *', own('["*"]'), ['no_wildcards', 'no_sensitive_widening']],
  ['an allow of **', own('["**"]'), ['no_wildcards', 'no_sensitive_widening']],
  [
    "another model's rule",
    'rules:\n  - model: claude\n    allow_tools: ["calendar.*"]\n',
    ['own_rules_only'],
  ],
  ['a role', 'roles:\n  reader:\n    allow_tools: ["calendar.*"]\n', ['own_rules_only']],
  ['dropping a deny rule', own('["calendar.*"]', '[]'), ['no_removals']],
  [
    'dropping an approval rule',
    own('["calendar.*"]', '["calendar.delete_*"]', '[]'),
    ['no_removals'],
  ],
  ['dropping a forbidden field', 'forbidden_fields: [password]\n', ['no_removals']],
  [
    'loosening a rate limit',
    'rate_limits:\n  agent: { limit: 600, window_s: 60 }\n',
    ['no_removals'],
  ],
  ['changing the guardrails', 'proposals:\n  auto_approve: true\n', ['no_guardrail_changes']],
])('fails %s', (_what, snippet, expected) => {
  expect(failing(snippet)).toEqual(expected);
});

it('passes narrowing: fewer tools, more forbidden fields, a tighter limit', () => {
  expect(failing(own('["calendar.list_*"]'))).toEqual([]);
  expect(failing('forbidden_fields: [password, token, ssn]\n')).toEqual([]);
  expect(failing('rate_limits:\n  agent: { limit: 30, window_s: 60 }\n')).toEqual([]);
});

it('says a guardrail a project turned off passes, and why', () => {
  const live = LIVE + 'proposals:\n  guardrails: { no_wildcards: false }\n';
  const snippet = parse(own('["*"]')) as Record<string, unknown>;
  const mergedText = mergeProposal(live, snippet);
  const results = checkGuardrails({
    proposer: 'gpt-4o',
    snippet,
    live: policyFileSchema.parse(parse(live)),
    merged: policyFileSchema.parse(parse(mergedText)),
    tools: TOOLS,
  });
  expect(results.find((r) => r.name === 'no_wildcards')).toMatchObject({
    pass: true,
    why: expect.stringMatching(/turned off/),
  });
});
