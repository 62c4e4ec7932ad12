// An example plugin (docs/plugins.md): denies write tools outside business hours (Monday to
// Friday, 09:00 to 18:00 in BUSINESS_HOURS_TZ, default UTC) and annotates the others with the
// local time. Copy it into CONFIG_DIR/plugins/ to use it.
const TZ = process.env.BUSINESS_HOURS_TZ || 'UTC';
const WRITES = /(^|\.)(write|create|update|delete|send)/;
const clock = new Intl.DateTimeFormat('en-GB', {
  timeZone: TZ,
  weekday: 'short',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

export function onToolCall(_ctx, tool, _payload, now = new Date()) {
  const parts = Object.fromEntries(clock.formatToParts(now).map((p) => [p.type, p.value]));
  const minutes = Number(parts.hour) * 60 + Number(parts.minute);
  const open = !['Sat', 'Sun'].includes(parts.weekday) && minutes >= 9 * 60 && minutes < 18 * 60;
  if (!open && WRITES.test(tool))
    return { deny: `${tool} writes; writes are allowed Monday to Friday, 09:00-18:00 ${TZ}` };
  return {
    annotate: {
      local_time: `${parts.weekday} ${parts.hour}:${parts.minute} ${TZ}`,
      business_hours: open,
    },
  };
}
