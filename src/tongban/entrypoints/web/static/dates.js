// Dates are YYYY-MM-DD Shanghai days, as the APIs use them.

/** Today in Shanghai, whatever the browser's time zone. */
export function todayShanghai() {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
  }).format(new Date());
}

/** "2026-11-21" + n days (UTC arithmetic on a calendar date: no zone involved). */
export function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Every day from..to inclusive; [] when the range is backwards or longer than `max`. */
export function daysBetween(from, to, max = 400) {
  const out = [];
  for (let day = from; day <= to && out.length <= max; day = addDays(day, 1)) out.push(day);
  return out.length > max ? [] : out;
}

export function isDay(text) {
  return /^\d{4}-\d{2}-\d{2}$/.test(text || '');
}

/** "2026-11-21T19:23:22.9Z" -> "2026-11-22 03:23" (Shanghai). */
export function shanghaiTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const parts = new Intl.DateTimeFormat('en-CA', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(d);
  const get = (type) => parts.find((p) => p.type === type)?.value;
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}`;
}
