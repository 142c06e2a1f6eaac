// A settlement's split (DESIGN §4.2 fields) and its classified bill lines, as the region page,
// the hospital desk and the resident's page show them.

import { badge, h, table } from '../dom.js';
import { t } from '../i18n.js';
import { ratioPercent, share, yuan } from '../money.js';

const TONES = {
  SETTLED: 'ok', COMMITTED: 'ok', PREVIEW: 'info', CANCELLED: 'muted', CANCELLING: 'warn',
  UNKNOWN: 'warn', PENDING: 'warn', REFUSED: 'bad', VOIDED: 'bad', ERROR: 'bad',
};

export function statusTone(status) {
  return TONES[status] || null;
}

export function classBadge(cls) {
  if (!cls) return badge(t('class.none'), 'bad');
  return h('span', { class: `cls cls-${cls}`, title: t(`class.${cls}`) }, cls);
}

/** part / whole in tenths of a percent as an integer (for bar widths), from integer fen. */
function permille(part, whole) {
  if (!whole) return 0;
  return Number((BigInt(Math.max(0, part)) * 1000n) / BigInt(whole));
}

function bar(split) {
  const parts = [
    ['fund', split.hifp_pay], ['account', split.acct_pay], ['cash', split.psn_cash_pay],
  ];
  return h('div', { class: 'paybar', role: 'img', 'aria-label': t('split.whoPaid') },
    parts.map(([key, fen]) => (fen > 0 ? h('span', {
      class: `paybar-${key}`,
      style: { width: `${permille(fen, split.medfee_sumamt) / 10}%` },
      title: `${t(`col.${key}`)} ${yuan(fen)}`,
    }) : null)));
}

function row(label, fen, { strong, note, tone } = {}) {
  return h('div', { class: `srow ${strong ? 'strong' : ''} ${tone || ''}`.trim() },
    h('span', { class: 'srow-label' }, label, note ? h('small', null, note) : null),
    h('span', { class: 'srow-value' }, yuan(fen)));
}

/** Two columns: where the bill went (catalogue and policy), and who paid it. */
export function splitSummary(split) {
  return h('div', { class: 'split' },
    h('div', { class: 'split-total' },
      h('span', null, t('split.medfee')), h('strong', null, yuan(split.medfee_sumamt))),
    bar(split),
    h('div', { class: 'split-cols' },
      h('div', { class: 'split-col' },
        h('h5', null, t('split.whereTitle')),
        row(t('split.ownpay'), split.fulamt_ownpay_amt, { note: t('split.ownpayNote') }),
        row(t('split.overlimit'), split.overlmt_selfpay, { note: t('split.overlimitNote') }),
        row(t('split.preselfpay'), split.preselfpay_amt, { note: t('split.preselfpayNote') }),
        row(t('split.covered'), split.inscp_scp_amt, { strong: true }),
        row(t('split.deductible'), split.act_pay_dedc, { note: t('split.deductibleNote') })),
      h('div', { class: 'split-col' },
        h('h5', null, t('split.whoPaid')),
        row(t('col.fund'), split.hifp_pay, {
          strong: true, tone: 'c-fund',
          note: `${t('split.ratio')} ${ratioPercent(split.ratio_applied)} · ${t('split.ofTotal')} ${share(split.hifp_pay, split.medfee_sumamt)}`,
        }),
        row(t('col.account'), split.acct_pay, { tone: 'c-account' }),
        row(t('col.cash'), split.psn_cash_pay, { strong: true, tone: 'c-cash' }),
        row(t('split.personTotal'), split.psn_part_amt, { note: t('split.personTotalNote') }),
        row(t('split.balance'), split.balc, { note: t('split.balanceNote') }))));
}

export function linesTable(lines, testid) {
  return table({
    testid,
    rows: lines,
    row: (l) => ({ 'data-code': l.code }),
    empty: t('split.noLines'),
    columns: [
      { label: t('col.item'), className: 'wrap', cell: (l) => h('span', null, l.name || t('class.none'), h('small', { class: 'code' }, l.code)) },
      { label: t('col.class'), cell: (l) => classBadge(l.class) },
      { label: t('col.quantity'), num: true, cell: (l) => l.quantity },
      { label: t('col.unitPrice'), num: true, cell: (l) => yuan(l.unit_price) },
      { label: t('col.amount'), num: true, cell: (l) => yuan(l.amount) },
      { label: t('split.ownpay'), num: true, cell: (l) => yuan(l.fulamt_ownpay_amt) },
      { label: t('split.overlimit'), num: true, cell: (l) => yuan(l.overlmt_selfpay) },
      { label: t('split.preselfpay'), num: true, cell: (l) => yuan(l.preselfpay_amt) },
      { label: t('split.covered'), num: true, cell: (l) => yuan(l.inscp_scp_amt) },
    ],
  });
}
