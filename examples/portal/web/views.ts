// The signed-in portal: profile, checkups with a trend chart, today's vitals, group walking,
// health points, dependants and the address change. Pure rendering from a PortalView.
import type { PlainRecord } from '../../../src/index.ts';
import type { Checkup } from '../seed/generate.ts';
import type { VitalsEntry } from '../data-env/records.ts';
import type { AttributeView } from './api.ts';
import { destroyCharts, lineChart, type Line } from './charts.ts';
import { fmt, h, replace } from './dom.ts';
import { jpDate } from './format.ts';

/** A dependant, opened with the dependant's key from the member's keyring. */
export interface Dependant {
  id: string;
  record: PlainRecord;
  attributes: AttributeView | undefined;
}

/** Everything the signed-in view shows and does. */
export interface PortalView {
  me: PlainRecord;
  attrs: AttributeView;
  dependants: Dependant[];
  persistence: 'memory' | 'indexeddb';
  logoff: () => Promise<void>;
  addVitals: (v: Omit<VitalsEntry, 'date'>) => Promise<VitalsEntry>;
  changeAddress: (address: string) => Promise<void>;
}

const RELATION: Record<string, string> = { self: '本人', spouse: '配偶者', child: '子' };

function row(label: string, value: unknown, testid?: string): HTMLElement[] {
  return [h('dt', {}, label), h('dd', testid === undefined ? {} : { 'data-testid': testid }, String(value ?? '—'))];
}

function card(title: string, cls: string, ...children: (Node | string | null)[]): HTMLElement {
  return h('section', { class: `card ${cls}` }, h('h2', {}, title), ...children);
}

function profileCard(view: PortalView): HTMLElement {
  const me = view.me;
  return card(
    '会員情報',
    'profile',
    h(
      'dl',
      {},
      ...row('氏名', me.fullName, 'member-name'),
      ...row('フリガナ', me.fullNameKana, 'member-kana'),
      ...row('生年月日', jpDate(me.birthDate), 'member-birth-date'),
      ...row('住所', me.address, 'member-address'),
      ...row('電話番号', me.phone),
      ...row('記号-番号-枝番', me.insuredNumber, 'member-insured-number'),
      ...row('所属', view.attrs.departmentName),
    ),
    h('p', { class: 'note' }, '氏名・生年月日・住所・保険証の番号は暗号化して保管されています。読める形に戻すのは、サインイン中のこの画面の中だけです。'),
  );
}

const FLAGS: Partial<Record<keyof Checkup, number>> = { systolic: 130, diastolic: 85, hba1c: 5.6, ldl: 120, triglycerides: 150, bmi: 25 };
const CHECKUP_ROWS: [keyof Checkup, string][] = [
  ['heightCm', '身長 (cm)'],
  ['weightKg', '体重 (kg)'],
  ['bmi', 'BMI'],
  ['systolic', '収縮期血圧'],
  ['diastolic', '拡張期血圧'],
  ['hba1c', 'HbA1c (%)'],
  ['ldl', 'LDL (mg/dL)'],
  ['hdl', 'HDL (mg/dL)'],
  ['triglycerides', '中性脂肪 (mg/dL)'],
];

/** The checkup results, newest year first (so a phone shows the latest without scrolling). */
function checkupTable(checkups: Checkup[]): HTMLElement {
  const newestFirst = [...checkups].sort((a, b) => b.date.localeCompare(a.date));
  return h(
    'div',
    { class: 'scroll' },
    h(
      'table',
      { class: 'checkups', 'data-testid': 'checkup-table' },
      h('thead', {}, h('tr', {}, h('th', {}, '項目'), ...newestFirst.map((c) => h('th', { 'data-year': c.date.slice(0, 4) }, c.date.slice(0, 4) + '年')))),
      h(
        'tbody',
        {},
        ...CHECKUP_ROWS.map(([key, label]) =>
          h(
            'tr',
            {},
            h('th', {}, label),
            ...newestFirst.map((c) => {
              const limit = FLAGS[key];
              const high = limit !== undefined && (c[key] as number) >= limit;
              return h('td', { class: high ? 'high' : undefined }, String(c[key]));
            }),
          ),
        ),
      ),
    ),
  );
}

type Reading = Pick<Checkup, 'date' | 'weightKg' | 'systolic' | 'diastolic'>;

/**
 * Checkup results and the member's own readings at home over one time axis, as series of their
 * own: a checkup is a line, a home reading a dot — a reading typed in at home is never drawn as
 * a checkup result.
 */
function readingSeries(checkups: readonly Reading[], home: readonly Reading[]): { dates: string[]; of: (key: keyof Omit<Reading, 'date'>, from: 'checkup' | 'home') => (number | null)[] } {
  const dates = [...new Set([...checkups, ...home].map((r) => r.date))].sort();
  const at = (list: readonly Reading[]) => new Map(list.map((r) => [r.date, r]));
  const byDate = { checkup: at(checkups), home: at(home) };
  return { dates, of: (key, from) => dates.map((d) => byDate[from].get(d)?.[key] ?? null) };
}

function checkupCard(view: PortalView): HTMLElement {
  const { checkups, vitals } = view.attrs;
  const bp = h('div', { class: 'chart' });
  const weight = h('div', { class: 'chart' });
  const el = card(
    '健診結果 (5年間)',
    'checkups',
    checkupTable(checkups),
    h('p', { class: 'note' }, '色付きの値は基準値以上です。グラフの線は健診の結果、白抜きの点はご自宅での記録です。'),
    bp,
    weight,
  );
  // Charts need the element in the document to measure its width.
  queueMicrotask(() => {
    const { dates, of } = readingSeries(checkups, vitals);
    const series = (key: keyof Omit<Reading, 'date'>, label: string, stroke: string, unit: string): Line[] => [
      { label: `${label} (健診)`, values: of(key, 'checkup'), stroke, unit },
      { label: `${label} (自宅)`, values: of(key, 'home'), stroke, unit, style: 'points' },
    ];
    lineChart(bp, '血圧 (mmHg)', dates, [...series('systolic', '最高血圧', '#d9534f', ' mmHg'), ...series('diastolic', '最低血圧', '#3b7dd8', ' mmHg')]);
    lineChart(weight, '体重 (kg)', dates, series('weightKg', '体重', '#2a9d6f', ' kg'), { height: 180 });
  });
  return el;
}

function vitalsCard(view: PortalView, refresh: () => void): HTMLElement {
  const today = view.attrs.vitals.at(-1);
  const input = (testid: string, label: string, min: number, max: number, step: string, value?: number): [HTMLElement, HTMLInputElement] => {
    const el = h('input', { 'data-testid': testid, type: 'number', inputmode: 'decimal', min, max, step, required: true, value });
    return [h('label', {}, label, el), el];
  };
  const [wl, w] = input('vitals-weight', '体重 (kg)', 20, 300, '0.1', today?.weightKg);
  const [sl, s] = input('vitals-systolic', '最高血圧 (mmHg)', 60, 260, '1', today?.systolic);
  const [dl, d] = input('vitals-diastolic', '最低血圧 (mmHg)', 30, 180, '1', today?.diastolic);
  const status = h('p', { class: 'status', role: 'status' });
  const submit = h('button', { type: 'submit', 'data-testid': 'vitals-submit' }, '記録する');
  const form = h(
    'form',
    {
      class: 'vitals-form',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        submit.disabled = true;
        const pointsBefore = view.attrs.points;
        view
          .addVitals({ weightKg: Number(w.value), systolic: Number(s.value), diastolic: Number(d.value) })
          .then((entry) => {
            refresh();
            // The day's points come with its first record only: say what really happened.
            const earned = view.attrs.points - pointsBefore;
            const saved = document.querySelector('[data-testid="vitals-saved"]');
            if (saved !== null) {
              saved.textContent =
                earned > 0
                  ? `${jpDate(entry.date)}の記録を保存しました (+${earned} pt)`
                  : `${jpDate(entry.date)}の記録を新しい値に更新しました。ポイントは1日1回なので、今回は加算されません。`;
            }
          })
          .catch(() => {
            status.textContent = '保存できませんでした';
            submit.disabled = false;
          });
      },
    },
    wl,
    sl,
    dl,
    submit,
  );
  const recent = view.attrs.vitals.slice(-5).reverse();
  return card(
    '今日の記録',
    'vitals',
    form,
    h('p', { class: 'status', 'data-testid': 'vitals-saved', role: 'status' }),
    status,
    recent.length === 0
      ? h('p', { class: 'note' }, 'まだ記録がありません。')
      : h('ul', { class: 'recent', 'data-testid': 'vitals-recent' }, ...recent.map((v) => h('li', {}, `${jpDate(v.date)}: ${v.weightKg} kg, ${v.systolic}/${v.diastolic} mmHg`))),
  );
}

function walkingCard(view: PortalView): HTMLElement {
  const r = view.attrs.ranking;
  const steps = view.attrs.steps ?? [];
  const week = steps.slice(-7).reduce((a, b) => a + b, 0);
  const chart = h('div', { class: 'chart' });
  queueMicrotask(() => {
    const until = Date.parse(`${view.attrs.stepsUntil ?? '2000-01-01'}T00:00:00Z`);
    const last = steps.slice(-30);
    const dates = last.map((_, i) => new Date(until - (last.length - 1 - i) * 86_400_000).toISOString().slice(0, 10));
    lineChart(chart, '歩数 (30日間)', dates, [{ label: '歩数', values: last, stroke: '#e07b00', unit: ' 歩' }], { height: 160, points: false });
  });
  return card(
    'みんなで歩こう',
    'walking',
    h('p', { class: 'big' }, `今週 ${fmt(week)} 歩`, r === undefined ? null : h('small', {}, ` — 部署内 ${r.yourRank} 位 / ${r.of} 人`)),
    h('p', { class: 'note' }, `ニックネーム「${view.attrs.nickname ?? '—'}」で参加中。ランキングには本名は表示されません。`),
    chart,
    r === undefined
      ? null
      : h(
          'div',
          { class: 'two' },
          h(
            'table',
            { class: 'ranking', 'data-testid': 'department-ranking' },
            h('caption', {}, '部署対抗 (1日平均歩数)'),
            h('tbody', {}, ...r.departments.map((d) => h('tr', { class: d.code === view.attrs.departmentCode ? 'you' : undefined }, h('td', {}, `${d.rank}`), h('td', {}, d.name), h('td', { class: 'num' }, fmt(d.averageSteps))))),
          ),
          h(
            'table',
            { class: 'ranking', 'data-testid': 'walker-ranking' },
            h('caption', {}, `${view.attrs.departmentName ?? ''} トップ10 (今週)`),
            h('tbody', {}, ...r.walkers.map((w) => h('tr', { class: w.you ? 'you' : undefined }, h('td', {}, `${w.rank}`), h('td', {}, w.nickname), h('td', { class: 'num' }, fmt(w.weekSteps))))),
          ),
        ),
  );
}

function pointsCard(view: PortalView): HTMLElement {
  return card(
    'ヘルスポイント',
    'points',
    h('p', { class: 'big', 'data-testid': 'health-points' }, `${fmt(view.attrs.points)} pt`),
    h('p', { class: 'note' }, '1日1,000歩ごとに1pt (1日10ptまで、直近30日)、健診受診で30pt、体重と血圧を記録した日は5pt (1日1回)。'),
  );
}

function dependantDetail(d: Dependant): HTMLElement {
  const r = d.record;
  return h(
    'div',
    { class: 'dependant', 'data-testid': 'dependant-detail' },
    h('h3', {}, String(r.fullName)),
    h('dl', {}, ...row('フリガナ', r.fullNameKana), ...row('続柄', RELATION[String(r.relation)] ?? r.relation), ...row('生年月日', jpDate(r.birthDate)), ...row('記号-番号-枝番', r.insuredNumber)),
    d.attributes !== undefined && d.attributes.checkups.length > 0 ? checkupTable(d.attributes.checkups) : h('p', { class: 'note' }, '健診結果はありません。'),
  );
}

function familyCard(view: PortalView): HTMLElement {
  const detail = h('div', {});
  return card(
    'ご家族 (被扶養者)',
    'family',
    view.dependants.length === 0
      ? h('p', { class: 'note' }, '被扶養者の登録はありません。')
      : h(
          'ul',
          { class: 'dependants' },
          ...view.dependants.map((d) =>
            h('li', {}, h('button', { type: 'button', class: 'link', 'data-testid': `dependant-${d.id}`, onclick: () => replace(detail, dependantDetail(d)) }, `${String(d.record.fullName)} (${RELATION[String(d.record.relation)] ?? ''})`)),
          ),
        ),
    detail,
    h('p', { class: 'note' }, 'ご家族の情報は、お一人ずつ別の鍵で暗号化されています。見られるのは、あなたが被保険者として登録しているご家族の情報だけです。'),
  );
}

function addressCard(view: PortalView, refresh: () => void): HTMLElement {
  const input = h('textarea', { 'data-testid': 'address-input', rows: 2, required: true });
  input.value = String(view.me.address ?? '');
  const status = h('p', { class: 'status', role: 'status' });
  const submit = h('button', { type: 'submit', 'data-testid': 'address-submit' }, '住所を変更する');
  return card(
    '住所変更',
    'address',
    h(
      'form',
      {
        onsubmit: (ev: Event) => {
          ev.preventDefault();
          submit.disabled = true;
          view
            .changeAddress(input.value.trim())
            .then(() => {
              refresh();
              const saved = document.querySelector('[data-testid="address-saved"]');
              if (saved !== null) saved.textContent = '新しい住所をこのブラウザで暗号化して保存しました。';
            })
            .catch(() => {
              status.textContent = '変更できませんでした';
              submit.disabled = false;
            });
        },
      },
      h('label', {}, '新しい住所', input),
      submit,
    ),
    h('p', { class: 'status', 'data-testid': 'address-saved', role: 'status' }),
    status,
  );
}

/** Renders the signed-in portal into `root`. */
export function renderDashboard(root: HTMLElement, view: PortalView): void {
  destroyCharts();
  const refresh = (): void => renderDashboard(root, view);
  const logoff = h('button', { type: 'button', class: 'logoff', 'data-testid': 'logoff', onclick: () => void view.logoff() }, 'ログオフ');
  replace(
    root,
    h(
      'div',
      { class: 'toolbar' },
      h('span', { class: 'mode' }, view.persistence === 'indexeddb' ? 'ページを再読み込みしても、サインインしたままです。' : 'このタブを閉じるか再読み込みすると、サインアウトします。'),
      logoff,
    ),
    h('div', { class: 'grid' }, profileCard(view), pointsCard(view), vitalsCard(view, refresh), familyCard(view), checkupCard(view), walkingCard(view), addressCard(view, refresh)),
  );
}
