// A few DOM helpers: the page builds its elements in code (no template engine, no build step).

/** h('div', {class: 'card', testid: 'x', onclick: f}, child, ...) -> element */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (key === 'class') el.className = v;
    else if (key === 'testid') el.setAttribute('data-testid', v);
    else if (key === 'dataset') Object.assign(el.dataset, v);
    else if (key === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (key.startsWith('on') && typeof v === 'function') el.addEventListener(key.slice(2), v);
    else if (key === 'value') value = v;
    else if (key === 'checked' || key === 'disabled' || key === 'selected') el[key] = Boolean(v);
    else el.setAttribute(key, v === true ? '' : String(v));
  }
  append(el, children);
  // A select's value can only be set once its options are there.
  if (value !== undefined) el.value = value;
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/**
 * A table in a horizontally scrolling wrapper (phones). columns: [{label, num, col, cell(row)}];
 * `row(r)` gives the attributes of a body row (data-*, onclick).
 */
export function table({ testid, columns, rows, row, empty, className }) {
  const head = h('thead', null,
    h('tr', null, columns.map((c) => h('th', { class: c.num ? 'num' : c.className }, c.label))));
  const body = h('tbody');
  for (const r of rows) {
    body.append(h('tr', row ? row(r) : null, columns.map((c) => h('td', {
      class: [c.num ? 'num' : '', c.className || ''].join(' ').trim() || null,
      'data-col': c.col,
    }, c.cell(r)))));
  }
  if (!rows.length && empty) {
    body.append(h('tr', { class: 'empty-row' }, h('td', { colspan: columns.length }, empty)));
  }
  return h('div', { class: 'table-wrap' },
    h('table', { class: `data ${className || ''}`.trim(), testid }, head, body));
}

/** A labelled form field: label above, control below (stacks on phones). */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control,
    hint ? h('span', { class: 'field-hint' }, hint) : null);
}

export function card(title, ...children) {
  return h('section', { class: 'card' },
    title ? h('header', { class: 'card-head' }, typeof title === 'string' ? h('h2', null, title) : title) : null,
    h('div', { class: 'card-body' }, children));
}

export function loading(text) {
  return h('div', { class: 'loading' }, h('span', { class: 'spinner' }), text);
}

export function badge(text, tone) {
  return h('span', { class: `badge ${tone ? `badge-${tone}` : ''}`.trim() }, text);
}

/** Saves a Blob under a filename (statement downloads). */
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, style: { display: 'none' } });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
