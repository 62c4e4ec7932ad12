import {
  defaultKeymap,
  history,
  historyKeymap,
  indentWithTab,
  insertNewlineKeepIndent,
} from '@codemirror/commands';
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
 */
export function YamlEditor({
  value,
  onChange,
  lint,
  label,
  readOnly = false,
}: {
  value: string;
  onChange?(text: string): void;
  lint?(text: string): Promise<LintProblem[]>;
  label: string;
  readOnly?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const changed = useRef(onChange);
  changed.current = onChange;

  useEffect(() => {
    const extensions: Extension[] = [
      ...base,
      // Enter keeps the line's indentation (YAML's own indentation rules can hang on some input).
      keymap.of([
        { key: 'Enter', run: insertNewlineKeepIndent },
        ...defaultKeymap,
        ...historyKeymap,
        indentWithTab,
      ]),
      EditorView.contentAttributes.of({ 'aria-label': label }),
      EditorState.readOnly.of(readOnly),
      EditorView.updateListener.of((u) => {
        if (u.docChanged) changed.current?.(u.state.doc.toString());
      }),
    ];
    if (lint) {
      extensions.push(
        // Problems show as markers and in the status line under the editor, not as hover
        // tooltips (their repositioning hung the page in Chromium: see the note).
        lintGutter({ tooltipFilter: () => [] }),
        linter(
          async (v) => {
            const problems = await lint(v.state.doc.toString());
            return problems.map((p) => diagnosticOf(v.state.doc, p));
          },
          { delay: 400, tooltipFilter: () => [] },
        ),
      );
    }
    view.current = new EditorView({ doc: value, extensions, parent: box.current! });
    return () => view.current?.destroy();
    // The editor is made once; a new `value` from outside replaces its text (below).
  }, [readOnly, label]);

  useEffect(() => {
    const v = view.current;
    if (v && v.state.doc.toString() !== value)
      v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: value } });
  }, [value]);

  return <div class="editor" ref={box} />;
}
