import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { yaml } from '@codemirror/lang-yaml';
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { type Diagnostic, linter, lintGutter } from '@codemirror/lint';
import { EditorState, type Extension } from '@codemirror/state';
import {
  EditorView,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import { useEffect, useRef } from 'preact/hooks';
import type { LintProblem } from './types';

/** Where a problem the server found sits in the text (line and column are 1-based). */
export function diagnosticOf(doc: EditorState['doc'], p: LintProblem): Diagnostic {
  const lineNo = Math.min(Math.max(p.line ?? 1, 1), doc.lines);
  const line = doc.line(lineNo);
  const from = Math.min(line.from + Math.max((p.column ?? 1) - 1, 0), line.to);
  return {
    from,
    to: p.line === null ? from : Math.max(from, line.to),
    severity: 'error',
    message: p.line === null ? `${p.reason} (${p.file})` : p.reason,
  };
}

/**
 * The nonce the CSP gives this page's style elements: CodeMirror mounts its styles in one, and
 * the CSP allows no other inline style.
 */
const styleNonce =
  document.querySelector<HTMLMetaElement>('meta[name="sg-style-nonce"]')?.content ?? '';

const base: Extension[] = [
  EditorView.cspNonce.of(styleNonce),
  lineNumbers(),
  highlightActiveLineGutter(),
  highlightActiveLine(),
  history(),
  bracketMatching(),
  syntaxHighlighting(defaultHighlightStyle),
  yaml(),
  EditorView.lineWrapping,
];

/**
 * The YAML editor (CodeMirror 6). `lint` is asked, as the text changes (debounced), for the
 * server's problems, shown as markers at their line and column. Tab indents; Escape then Tab
 * leaves the editor (CodeMirror's own rule), so keyboard users are never trapped.
 *
 * The editor owns its text: it starts as `initial` and is reported through `onChange`. To show
 * another text, remount it (a new `key`). Writing the parent's state back into the editor
 * after each render raced with typing: a render's deferred effect could put back the text of
 * one keystroke before, which reported it, whose render put back the newer one, and so on
 * without end (the page froze).
 */
export function YamlEditor({
  initial,
  onChange,
  lint,
  label,
  readOnly = false,
}: {
  initial: string;
  onChange?(text: string): void;
  lint?(text: string): Promise<LintProblem[]>;
  label: string;
  readOnly?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    const extensions: Extension[] = [
      ...base,
      keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
      EditorView.contentAttributes.of({ 'aria-label': label }),
      EditorState.readOnly.of(readOnly),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) changed.current?.(u.state.doc.toString());
      }),
    ];
    if (lint) {
      extensions.push(
        // Problems show as markers (with their message on hover) and in the status line.
        lintGutter(),
        linter(
          async (v) => {
            const problems = await lint(v.state.doc.toString());
            return problems.map((p) => diagnosticOf(v.state.doc, p));
          },
          { delay: 400 },
        ),
      );
    }
    const view = new EditorView({ doc: initial, extensions, parent: box.current! });
    return () => view.destroy();
    // Made once per mount: see above.
  }, []);

  return <div class="editor" ref={box} />;
}
