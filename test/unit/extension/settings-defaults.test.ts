/**
 * One table of analysis defaults: package.json's contributes.configuration, the extension's settings
 * reader and the engine all take theirs from src/shared/settings-defaults.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANALYSIS_DEFAULTS, DISPLAY_DEFAULTS } from '../../../src/shared/settings-defaults';
import { analysisSettings, labelMinF1Setting } from '../../../src/extension/settings';

test("package.json's setting defaults are the table's", () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as { contributes: { configuration: { properties: Record<string, { default?: unknown }> } } };
  const props = pkg.contributes.configuration.properties;
  for (const [k, v] of Object.entries({ ...ANALYSIS_DEFAULTS, ...DISPLAY_DEFAULTS })) assert.equal(props[`circuitInspector.${k}`]?.default, v, `circuitInspector.${k}`);
});

test('unset settings read as the table', () => {
  assert.deepEqual(analysisSettings(() => undefined), { ...ANALYSIS_DEFAULTS });
});

test('an unset labels.minF1 reads as the table; out-of-range values are clamped', () => {
  assert.equal(labelMinF1Setting(() => undefined), DISPLAY_DEFAULTS['labels.minF1']);
  assert.equal(labelMinF1Setting(() => 'high'), DISPLAY_DEFAULTS['labels.minF1']);
  assert.equal(labelMinF1Setting(() => 2), 1);
  assert.equal(labelMinF1Setting(() => 0.3), 0.3);
});
