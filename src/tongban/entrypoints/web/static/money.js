// Money arrives as integer fen and is shown as yuan. Every conversion here is integer (BigInt)
// arithmetic on purpose: `fen / 100` in floating point would print ¥0.1 + ¥0.2 wrongly.

function big(value) {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`not a whole number of fen: ${value}`);
    return BigInt(value);
  }
  if (typeof value === 'string' && /^-?\d+$/.test(value)) return BigInt(value);
  throw new RangeError(`not a whole number of fen: ${value}`);
}

/** "1234567" -> "1,234,567" */
export function groupDigits(digits) {
  return String(digits).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 123456 -> "¥1,234.56"; -1230 -> "-¥12.30"; null -> "—" */
export function yuan(fen) {
  if (fen === null || fen === undefined || fen === '') return '—';
  let f = big(fen);
  const negative = f < 0n;
  if (negative) f = -f;
  const text = `¥${groupDigits((f / 100n).toString())}.${(f % 100n).toString().padStart(2, '0')}`;
  return negative ? `-${text}` : text;
}

/** For chart axes: whole yuan, truncated ("¥12,000"); axis ticks are fen values. */
export function yuanAxis(fen) {
  const f = big(Math.trunc(Number(fen)));
  const negative = f < 0n;
  const text = `¥${groupDigits(((negative ? -f : f) / 100n).toString())}`;
  return negative ? `-${text}` : text;
}

/** 123456 -> "1234.56" (no symbol, no separators): the value of a price input. */
export function yuanPlain(fen) {
  let f = big(fen);
  const negative = f < 0n;
  if (negative) f = -f;
  const text = `${f / 100n}.${(f % 100n).toString().padStart(2, '0')}`;
  return negative ? `-${text}` : text;
}

/** "1,234.5" or "¥12" -> fen as an integer Number; null when it is no yuan amount. */
export function parseYuan(text) {
  const s = String(text ?? '').trim().replace(/^[¥￥]/, '').replace(/,/g, '');
  const m = /^(\d{1,11})(?:\.(\d{0,2}))?$/.exec(s);
  if (!m) return null;
  return Number(BigInt(m[1]) * 100n + BigInt((m[2] || '').padEnd(2, '0')));
}

/** A positive decimal quantity as the API takes it ("1", "0.5"; at most 6 decimals). */
export function isQuantity(text) {
  return /^[0-9]{1,9}(\.[0-9]{1,6})?$/.test(text) && /[1-9]/.test(text);
}

/** quantity ("1.5") × unit price (fen) rounded half up, as the node computes a line amount. */
export function lineAmount(quantity, unitPriceFen) {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(String(quantity));
  if (!m) return null;
  const frac = m[2] || '';
  const num = BigInt(m[1] + frac) * big(unitPriceFen);
  const den = 10n ** BigInt(frac.length);
  return Number((num * 2n + den) / (2n * den));
}

/** part / whole as a percentage with one decimal, rounded half up: (512, 1000) -> "51.2%". */
export function share(part, whole) {
  const p = big(part ?? 0);
  const w = big(whole ?? 0);
  if (w === 0n) return '—';
  const negative = p !== 0n && (p < 0n) !== (w < 0n);
  const pa = p < 0n ? -p : p;
  const wa = w < 0n ? -w : w;
  const tenths = (pa * 2000n + wa) / (2n * wa);
  return `${negative ? '-' : ''}${tenths / 10n}.${tenths % 10n}%`;
}

/** A ratio decimal string as a percentage: "0.65" -> "65%", "0.075" -> "7.5%", "1" -> "100%". */
export function ratioPercent(ratio) {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(String(ratio ?? ''));
  if (!m) return String(ratio ?? '—');
  const frac = (m[2] || '').padEnd(2, '0');
  const whole = (m[1] + frac.slice(0, 2)).replace(/^0+(?=\d)/, '');
  const rest = frac.slice(2).replace(/0+$/, '');
  return `${whole}${rest ? `.${rest}` : ''}%`;
}

/** base (fen) × ratio ("0.65") exactly, as a [numerator, denominator] pair of BigInts. */
export function timesRatio(baseFen, ratio) {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(String(ratio));
  if (!m) return null;
  const frac = m[2] || '';
  return [big(baseFen) * BigInt(m[1] + frac), 10n ** BigInt(frac.length)];
}

/** A count with thousands separators: 12345 -> "12,345". */
export function count(n) {
  if (n === null || n === undefined) return '—';
  return groupDigits(String(n));
}

/** An average in fen, rounded half up: (1000, 3) -> 333; null when there is nothing to divide. */
export function average(totalFen, n) {
  if (!n) return null;
  const t = big(totalFen);
  const d = big(n);
  const neg = t < 0n;
  const q = ((neg ? -t : t) * 2n + d) / (2n * d);
  return Number(neg ? -q : q);
}
