import { h, setText } from './dom.ts';

/** A headline figure: label, value, a short note under it. */
export function tile(label: string, id?: string): { el: HTMLElement; set(value: string, note?: string): void } {
  const value = h('div', { class: 'tile-value' }, '–');
  const note = h('div', { class: 'tile-note muted' });
  const el = h('div', { class: 'tile', id }, h('div', { class: 'tile-label' }, label), value, note);
  return {
    el,
    set(v, n = '') {
      setText(value, v);
      setText(note, n);
    },
  };
}
