/**
 * The verify scatter's geometry: one range for both axes (so the y = x line is the plot's diagonal),
 * covering every point and zero, on "nice" tick boundaries; and the flag mark in the graph picture.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { niceStep, placeNames, scatterGeometry } from '../../../webview/scatter';

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

test('names sit beside their own points, never over each other; a name with no room near its point is left out', () => {
  // Three isolated flagged points first, then twelve within a few pixels of each other (more than the
  // five rows on two sides beside them can name).
  const items = [[60, 210], [150, 90], [200, 40], ...Array.from({ length: 12 }, (_, i) => [108 + (i % 4), 148 + (i % 3)])]
    .map(([cx, cy], i) => ({ cx, cy, name: `L0#${100 + i}@8` }));
  const placed = placeNames(items, 130);
  const boxes = placed.map((p) => {
    const w = items[p.index].name.length * 5.8;
    return { l: p.anchor === 'start' ? p.x : p.x - w, r: p.anchor === 'start' ? p.x + w : p.x, t: p.y - 9, b: p.y + 2 };
  });
  for (const [i, a] of boxes.entries()) {
    for (const b of boxes.slice(i + 1)) assert.ok(!(a.l < b.r && b.l < a.r && a.t < b.b && b.t < a.b), `names overlap: ${JSON.stringify([a, b])}`);
  }
  for (const p of placed) {
    const it = items[p.index];
    assert.equal(Math.abs(p.x - it.cx), 7, 'beside the point');
    assert.ok(Math.abs(p.y - (it.cy - 5)) <= 22, `${it.name} within two rows of its point (${p.y} vs ${it.cy})`);
  }
  // The isolated points are always named; the cluster names what fits and leaves the rest out.
  for (const i of [0, 1, 2]) assert.ok(placed.some((p) => p.index === i), `point ${i} is named`);
  const cluster = placed.filter((p) => p.index >= 3).length;
  assert.ok(cluster >= 6 && cluster <= 10, `${cluster} of the cluster's 12 names placed`);
  // A lone point takes the side facing the middle.
  assert.deepEqual(placeNames([{ cx: 50, cy: 100, name: 'L3#1@2' }], 130)[0], { index: 0, x: 57, y: 95, anchor: 'start' });
  assert.deepEqual(placeNames([{ cx: 200, cy: 100, name: 'L3#1@2' }], 130)[0], { index: 0, x: 193, y: 95, anchor: 'end' });
});
