const DAY = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const formats = new Map<string, Intl.DateTimeFormat>();

/** Weekday and minute of the day of `now` in `timezone`. */
export function localTime(now: Date, timezone: string): { day: string; minute: number } {
  let f = formats.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formats.set(timezone, f);
  }
  const parts = Object.fromEntries(f.formatToParts(now).map((p) => [p.type, p.value]));
  const day = String(parts.weekday).slice(0, 3).toLowerCase();
  return {
    day: DAY.includes(day) ? day : 'sun',
    minute: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

/** Whether `minute` lies in [from, to); a window may cross midnight (22:00-06:00). */
export function inWindow(minute: number, from: number, to: number): boolean {
  return from <= to ? minute >= from && minute < to : minute >= from || minute < to;
}
