import type { PolicyFile, ToolFile } from '@sg/config';
import { compilePolicy, ruleVerdict } from '@sg/policy-engine';
import { isMap, isSeq, parseDocument, type YAMLMap, type YAMLSeq } from 'yaml';

/** One guardrail's verdict on a proposal (docs/proposals.md). */
export interface GuardrailResult {
  name: string;
  pass: boolean;
  why: string;
}

/**
 * The live policy's text with a proposal merged in: each top-level key of the snippet replaces
 * the live one, except `rules`, where the snippet's rules replace the live rules of the same
 * models (other models' rules stay). Comments and layout of the live file are kept.
 */
export function mergeProposal(liveText: string, snippet: Record<string, unknown>): string {
  const doc = parseDocument(liveText);
  for (const [key, value] of Object.entries(snippet)) {
    if (key !== 'rules' || !Array.isArray(value)) {
      doc.set(key, doc.createNode(value));
      continue;
    }
    const models = new Set(value.map((r) => (r as { model?: unknown }).model));
    const live = doc.get('rules', true);
    const seq: YAMLSeq = isSeq(live) ? live : (doc.createNode([]) as YAMLSeq);
    seq.items = seq.items.filter(
      (item) => !(isMap(item) && models.has((item as YAMLMap).get('model'))),
    );
    for (const r of value) seq.items.push(doc.createNode(r) as never);
    doc.set('rules', seq);
  }
  return doc.toString();
}

/** A glob that matches every tool name (`*`, `**`, `*.*`): never granted by a proposal. */
function everything(pattern: string): boolean {
  return pattern.replace(/[*.]/g, '') === '';
}

function ratePerSecond(l: { limit: number; window_s: number } | undefined): number {
  return l ? l.limit / l.window_s : Infinity;
}

/**
 * The guardrails a proposal by `proposer` must pass, each with why (seed 001, issue 13 §4). A
 * guardrail a project turned off passes with that said; `no_guardrail_changes` cannot be off.
 */
export function checkGuardrails(i: {
  proposer: string;
  snippet: Record<string, unknown>;
  live: PolicyFile;
  merged: PolicyFile;
  tools: ReadonlyMap<string, ToolFile>;
}): GuardrailResult[] {
  const on = i.live.proposals.guardrails;
  const off = (name: string): GuardrailResult => ({
    name,
    pass: true,
    why: 'turned off for this project (proposals.guardrails)',
  });
  const out: GuardrailResult[] = [];
  const snippetRules = Array.isArray(i.snippet.rules)
    ? (i.snippet.rules as Array<{ model: string; allow_tools?: string[] }>)
    : [];

  out.push(
    'proposals' in i.snippet
      ? {
          name: 'no_guardrail_changes',
          pass: false,
          why: 'a proposal cannot change the proposals section',
        }
      : { name: 'no_guardrail_changes', pass: true, why: 'the proposals section is untouched' },
  );

  if (!on.own_rules_only) out.push(off('own_rules_only'));
  else {
    const others = [...new Set(snippetRules.map((r) => r.model).filter((m) => m !== i.proposer))];
    const roles = 'roles' in i.snippet;
    out.push({
      name: 'own_rules_only',
      pass: others.length === 0 && !roles,
      why:
        others.length || roles
          ? `it changes ${[...others.map((m) => `the rules of ${m}`), ...(roles ? ['roles'] : [])].join(', ')}; a proposal may change only ${i.proposer}'s own rules`
          : `only ${i.proposer}'s own rules`,
    });
  }

  if (!on.no_wildcards) out.push(off('no_wildcards'));
  else {
    const wild = snippetRules.flatMap((r) => (r.allow_tools ?? []).filter(everything));
    out.push({
      name: 'no_wildcards',
      pass: wild.length === 0,
      why: wild.length
        ? `it allows ${wild.map((w) => `"${w}"`).join(', ')}, which matches every tool`
        : 'no allow glob matches every tool',
    });
  }

  const live = compilePolicy(i.live, 'live', undefined, null);
  const merged = compilePolicy(i.merged, 'proposed', undefined, null);
  if (!on.no_sensitive_widening) out.push(off('no_sensitive_widening'));
  else {
    const widened: string[] = [];
    for (const [name, t] of i.tools) {
      if (!(t.requires_approval || t.pii || t.writes)) continue;
      const before = ruleVerdict(live, i.proposer, undefined, name).kind === 'allowed';
      const after = ruleVerdict(merged, i.proposer, undefined, name).kind === 'allowed';
      if (after && !before) widened.push(name);
    }
    out.push({
      name: 'no_sensitive_widening',
      pass: widened.length === 0,
      why: widened.length
        ? `it would let ${i.proposer} call ${widened.join(', ')} (requires_approval, pii or writes)`
        : 'no tool flagged requires_approval, pii or writes becomes callable',
    });
  }

  if (!on.no_removals) out.push(off('no_removals'));
  else {
    const lost: string[] = [];
    // Deny globs and approval globs of every rule: a proposal may add, never drop them.
    for (const [field, what] of [
      ['deny_tools', 'deny'],
      ['requires_approval', 'approval for'],
    ] as const) {
      const globs = (p: PolicyFile) =>
        new Set(p.rules.flatMap((r) => r[field].map((g) => `${r.model}\u0000${g}`)));
      const kept = globs(i.merged);
      for (const g of globs(i.live))
        if (!kept.has(g)) lost.push(`${what} ${g.split('\u0000')[1]} of ${g.split('\u0000')[0]}`);
    }
    const fields = new Set(i.merged.forbidden_fields.map((f) => f.toLowerCase()));
    for (const f of i.live.forbidden_fields)
      if (!fields.has(f.toLowerCase())) lost.push(`forbidden field ${f}`);
    for (const k of ['agent', 'user', 'tool'] as const) {
      const was = i.live.rate_limits[k];
      if (was && ratePerSecond(i.merged.rate_limits[k]) > ratePerSecond(was))
        lost.push(`the ${k} rate limit (${was.limit} per ${was.window_s} s)`);
    }
    out.push({
      name: 'no_removals',
      pass: lost.length === 0,
      why: lost.length
        ? `it removes or loosens ${lost.join(', ')}`
        : 'every deny rule, approval rule, forbidden field and rate limit stays',
    });
  }
  return out;
}
