/**
 * Contrast measured from a rendered page (WCAG 2 relative luminance): every visible element with text of
 * its own against the background it sits on (≥ 4.5:1), and marks (SVG shapes' fill or stroke) against
 * the page (≥ 3:1). Runs inside the page with Playwright's `evaluate`; colours come from computed styles,
 * so whatever the theme's --vscode-* variables resolve to is what is measured.
 */
import type { Frame } from 'playwright-core';
import type { VsCode } from './harness';

export interface ContrastFinding {
  what: string;
  ratio: number;
  min: number;
}

/**
 * Text under `textSelector`, and the `marks` shapes' `property` (fill / stroke). The measurement is
 * plain JavaScript in a string: tsx (keepNames) would wrap a function's inner arrows in a helper that
 * the page does not have.
 */
export function measureContrast(frame: Frame, textSelector: string, marks: { selector: string; property: 'fill' | 'stroke' }[]): Promise<ContrastFinding[]> {
  return frame.evaluate(`(() => {
    const textSel = ${JSON.stringify(textSelector)};
    const markList = ${JSON.stringify(marks)};
    const parse = (c) => {
      const m = /rgba?\\(([^)]+)\\)/.exec(c);
      if (!m) return undefined;
      const p = m[1].split(/[,\\s/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p[3] === undefined ? 1 : p[3]];
    };
    const lum = (c) => {
      const f = (x) => ((x /= 255) <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
    };
    const ratio = (fg, bg) => {
      const b = parse(bg);
      const f0 = parse(fg);
      const f = [0, 1, 2].map((i) => f0[i] * f0[3] + b[i] * (1 - f0[3]));
      const l1 = lum(f), l2 = lum(b);
      return (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    };
    const alpha = (c) => { const p = parse(c); return p ? p[3] : 0; };
    const bodyBg = getComputedStyle(document.body).backgroundColor;
    const backgroundOf = (el) => {
      let bg = 'rgba(0, 0, 0, 0)';
      for (let e = el; e && alpha(bg) === 0; e = e.parentElement) bg = getComputedStyle(e).backgroundColor;
      return alpha(bg) === 0 ? bodyBg : bg;
    };
    const out = [];
    for (const el of Array.from(document.querySelectorAll(textSel))) {
      const box = el.getBoundingClientRect();
      if (!box.width || !box.height || ![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
      const style = getComputedStyle(el);
      const color = el instanceof SVGElement ? style.fill : style.color;
      out.push({ what: 'text "' + el.textContent.trim().slice(0, 30) + '" ' + color, ratio: ratio(color, backgroundOf(el)), min: 4.5 });
    }
    for (const mk of markList) {
      for (const el of Array.from(document.querySelectorAll(mk.selector))) {
        const color = getComputedStyle(el)[mk.property];
        out.push({ what: mk.selector + ' ' + mk.property + ' ' + color, ratio: ratio(color, bodyBg), min: 3 });
      }
    }
    return out;
  })()`);
}

/** The class VS Code puts on the workbench for each theme's kind: how a switch is seen to have taken effect. */
const THEME_CLASS: Record<string, string> = {
  'Light Modern': 'vs',
  'Dark Modern': 'vs-dark',
  'Light High Contrast': 'hc-light',
  'Dark High Contrast': 'hc-black',
};

/**
 * Switches the colour theme as a user does it (Preferences: Color Theme, type the name, pick its row) and
 * waits until the workbench wears it. Under load the picker can lose what was typed, and a dialog left
 * open makes the whole workbench inert; each try closes what is open first, and three tries are made.
 */
export async function setColorTheme(vs: VsCode, name: string): Promise<void> {
  let last: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await closeDialogs(vs);
      await pickTheme(vs, name);
      const cls = THEME_CLASS[name];
      if (cls) await vs.page.locator(`.monaco-workbench.${cls}`).first().waitFor({ state: 'attached', timeout: 15_000 });
      return;
    } catch (e) {
      last = e;
      await vs.screenshot(`theme-retry-${attempt + 1}`);
      for (let k = 0; k < 2; k++) await vs.page.keyboard.press('Escape').catch(() => {});
    }
  }
  throw last;
}

/** A modal dialog (it makes everything behind it inert) is cancelled, and what it said is logged. */
async function closeDialogs(vs: VsCode): Promise<void> {
  const box = vs.page.locator('.monaco-dialog-box');
  for (let k = 0; k < 3 && (await box.count()) > 0 && (await box.first().isVisible()); k++) {
    console.error(`[e2e] a dialog was open before the theme switch: ${(await box.first().innerText().catch(() => '')).replace(/\s+/g, ' ').slice(0, 300)}`);
    const buttons = box.first().locator('.dialog-buttons a, .dialog-buttons button');
    const n = await buttons.count();
    if (n > 0) await buttons.nth(n - 1).click({ timeout: 5_000 }).catch(() => {});
    else await vs.page.keyboard.press('Escape');
    await vs.page.waitForTimeout(300);
  }
}

/**
 * The picker fills its list after it opens (and clears what was typed then), so typing is retried until
 * the list shows the theme. Not vs.runCommand: it waits for the palette to close, and the theme picker
 * opens in its place.
 */
async function pickTheme(vs: VsCode, name: string): Promise<void> {
  const T = { timeout: 15_000 };
  const input = vs.page.locator('.quick-input-widget .quick-input-box input');
  await vs.page.locator('.part.editor .title .tabs-and-actions-container').first().click({ position: { x: 5, y: 5 }, ...T });
  await vs.page.keyboard.press('F1');
  await input.waitFor({ state: 'visible', ...T });
  await input.fill('>Preferences: Color Theme', T);
  await vs.page.locator('.quick-input-list .monaco-list-row', { has: vs.page.locator('.label-name', { hasText: /^\s*Preferences: Color Theme\s*$/ }) }).first().click(T);
  await vs.page.locator('.quick-input-widget .quick-input-box input[placeholder*="Color Theme"]').waitFor({ state: 'visible', ...T });
  const first = vs.page.locator('.quick-input-list .monaco-list-row .label-name').first();
  for (let attempt = 0; ; attempt++) {
    await vs.page.waitForTimeout(700);
    await input.fill(name, T);
    await vs.page.waitForTimeout(700);
    const top = (await first.innerText().catch(() => '')).trim();
    if (top === name && (await input.inputValue()) === name) break;
    if (attempt >= 10) throw new Error(`the theme picker did not offer ${name} (top row: ${top})`);
  }
  await input.press('Enter');
  await input.waitFor({ state: 'hidden', ...T });
}

export const THEMES = ['Light Modern', 'Dark Modern', 'Light High Contrast', 'Dark High Contrast'];
