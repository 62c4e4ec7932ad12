// An example plugin (docs/plugins.md): logs every call that policy allowed, one JSON line on
// stdout, and lets it pass. Copy it into CONFIG_DIR/plugins/ to use it.
export function onToolCall(ctx, tool, payload) {
  process.stdout.write(
    `${JSON.stringify({
      plugin: 'logger',
      time: new Date().toISOString(),
      trace_id: ctx.trace_id,
      project: ctx.project,
      agent_id: ctx.agent_id,
      tool,
      argument_names: Object.keys(payload),
    })}\n`,
  );
  return null;
}
