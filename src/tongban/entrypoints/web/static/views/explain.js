// A resident's settlement explained in plain words, one list item per `explanation` step
// (docs/console-api.md): each bill line, the pieces, the deductible, the ratio, account, cash.

import { h } from '../dom.js';
import { t } from '../i18n.js';
import { ratioPercent, timesRatio, yuan } from '../money.js';
import { classBadge } from './split.js';

function lineWords(s) {
  const parts = [];
  if (s.overlmt_selfpay > 0) {
    parts.push(s.price_cap === null || s.price_cap === undefined
      ? t('explain.overlimit', { amount: yuan(s.overlmt_selfpay) })
      : t('explain.overlimitCap', { amount: yuan(s.overlmt_selfpay), cap: yuan(s.price_cap) }));
  }
  if (s.class === 'A') {
    parts.push(t('explain.classA', { covered: yuan(s.inscp_scp_amt) }));
  } else if (s.class === 'B') {
    parts.push(s.selfpay_ratio === null || s.selfpay_ratio === undefined
      ? t('explain.classBNoRatio', { pre: yuan(s.preselfpay_amt), covered: yuan(s.inscp_scp_amt) })
      : t('explain.classB', {
        ratio: ratioPercent(s.selfpay_ratio), pre: yuan(s.preselfpay_amt), covered: yuan(s.inscp_scp_amt),
      }));
  } else if (s.class === 'C') {
    parts.push(t('explain.classC', { own: yuan(s.fulamt_ownpay_amt) }));
  } else {
    parts.push(t('explain.notListed', { own: yuan(s.fulamt_ownpay_amt) }));
  }
  return parts.join(t('explain.sep'));
}

function piecesWords(s) {
  const parts = [];
  if (s.ownpay) parts.push(t('explain.piecesOwnpay', { amount: yuan(s.ownpay) }));
  if (s.overlimit) parts.push(t('explain.piecesOverlimit', { amount: yuan(s.overlimit) }));
  if (s.preselfpay) parts.push(t('explain.piecesPre', { amount: yuan(s.preselfpay) }));
  const self = parts.length ? t('explain.piecesSelf', { list: parts.join(t('explain.listSep')) }) : t('explain.piecesNoSelf');
  return t('explain.pieces', { medfee: yuan(s.medfee), self, covered: yuan(s.covered) });
}

/** fund below base × ratio by more than rounding: the annual cap stopped the fund. */
function capReached(s) {
  const exact = timesRatio(s.base, s.ratio);
  if (!exact) return false;
  const [num, den] = exact;
  return (num - BigInt(s.fund) * den) * 2n > den;
}

function ratioWords(s) {
  if (s.base <= 0) return t('explain.ratioNone', { fund: yuan(s.fund) });
  const text = t('explain.ratio', {
    base: yuan(s.base), ratio: ratioPercent(s.ratio), fund: yuan(s.fund), copay: yuan(s.copay),
  });
  return capReached(s) ? `${text}${t('explain.sep')}${t('explain.capReached')}` : text;
}

const WORDS = {
  line: lineWords,
  pieces: piecesWords,
  deductible: (s) => (s.amount > 0
    ? t('explain.deductible', { amount: yuan(s.amount) })
    : t('explain.deductibleNone', { amount: yuan(s.amount) })),
  ratio: ratioWords,
  account: (s) => (s.amount > 0 ? t('explain.account', { amount: yuan(s.amount) }) : t('explain.accountNone', { amount: yuan(s.amount) })),
  cash: (s) => (s.amount > 0 ? t('explain.cash', { amount: yuan(s.amount) }) : t('explain.cashNone', { amount: yuan(s.amount) })),
};

function title(s) {
  if (s.step === 'line') {
    return h('span', { class: 'step-title' }, classBadge(s.class), ' ', s.name || s.code,
      h('small', { class: 'code' }, `${s.quantity} × ${yuan(s.unit_price)} = ${yuan(s.amount)}`));
  }
  return h('span', { class: 'step-title' }, t(`explain.title.${s.step}`, null, s.step));
}

export function explanationList(steps) {
  return h('ol', { class: 'explain', testid: 'me-explanation' }, steps.map((s) => h('li', {
    'data-step': s.step, class: `explain-${s.step}`,
  },
  title(s),
  h('p', null, (WORDS[s.step] || ((x) => JSON.stringify(x)))(s)))));
}
