/**
 * The verify scatter's geometry: one range for both axes (so the y = x line is the plot's diagonal),
 * covering every point and zero, on "nice" tick boundaries; and the flag mark in the graph picture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { niceStep, scatterGeometry } from '../../../webview/scatter';

test('nice steps are 1, 2 or 5 × 10^k', () => {
  assert.equal(niceStep(10, 4), 5);
  assert.equal(niceStep(1, 4), 0.5);
  assert.equal(niceStep(23, 4), 10);
  assert.equal(niceStep(0.07, 4), 0.02);
});

test('both axes share one range that holds every point and zero; y = x is the diagonal', () => {
  const pts = [{ predicted: 5.63, measured: -17.6 }, { predicted: -2.58, measured: -2.57 }, { predicted: 1.13, measured: -0.17 }];
  const g = scatterGeometry(pts, 260);
  for (const p of pts) for (const v of [p.predicted, p.measured]) assert.ok(v > g.lo && v < g.hi, `${v} in (${g.lo}, ${g.hi})`);
  assert.ok(g.lo < 0 && g.hi > 0);
  assert.ok(g.ticks.includes(0), `ticks ${g.ticks}`);
  assert.equal(g.ticks[0], g.lo);
  assert.ok(Math.abs(g.ticks[g.ticks.length - 1] - g.hi) < 1e-9);
  // The same value maps to the diagonal: x(v) − left equals bottom − y(v) scaled by the box's aspect.
  const { box } = g;
  for (const v of [g.lo, 0, 3, g.hi]) {
    const fx = (g.x(v) - box.l) / (box.r - box.l), fy = (box.b - g.y(v)) / (box.b - box.t);
    assert.ok(Math.abs(fx - fy) < 1e-12, `${v}: ${fx} vs ${fy}`);
  }
  // Points stay inside the plot box.
  for (const p of pts) {
    assert.ok(g.x(p.predicted) > box.l && g.x(p.predicted) < box.r);
    assert.ok(g.y(p.measured) > box.t && g.y(p.measured) < box.b);
  }
});

test('a report of zeros still has a range', () => {
  const g = scatterGeometry([{ predicted: 0, measured: 0 }]);
  assert.ok(g.hi > g.lo);
  assert.ok(Number.isFinite(g.x(0)) && Number.isFinite(g.y(0)));
});
