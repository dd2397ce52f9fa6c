import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeGraph } from '../../../webview/graph-model';
import * as vs from '../../../webview/view-state';
import { sampleGraph } from './sample-graph';

const g = normalizeGraph(sampleGraph(4));
const feats = g.nodes.filter((n) => n.kind === 'feature').map((n) => n.id);

test('clicks: a plain click selects one node, additive clicks toggle, the background clears', () => {
  let s = vs.initialState(g);
  s = vs.clickNode(s, feats[0], false);
  s = vs.clickNode(s, feats[1], true);
  s = vs.clickNode(s, feats[2], true);
  assert.deepEqual(s.selected, feats.slice(0, 3));
  s = vs.clickNode(s, feats[1], true);
  assert.deepEqual(s.selected, [feats[0], feats[2]]);
  assert.deepEqual(vs.clickNode(s, feats[3], false).selected, [feats[3]]);
  assert.deepEqual(vs.clickNode(s, undefined, false).selected, []);
  assert.equal(vs.clickNode(s, undefined, true), s, 'an additive click on the background keeps the selection');
});

test('pins toggle as a set: all pinned → unpin, otherwise pin', () => {
  let s = vs.clickNode(vs.clickNode(vs.initialState(g), feats[0], false), feats[1], true);
  s = vs.togglePins(s);
  assert.deepEqual(new Set(s.pinned), new Set(feats.slice(0, 2)));
  s = vs.togglePins(vs.clickNode(s, feats[2], true));
  assert.deepEqual(new Set(s.pinned), new Set(feats.slice(0, 3)));
  s = vs.togglePins(s);
  assert.deepEqual(s.pinned, []);
});

test('grouping: members leave old groups, labels stay unique, the group is selected; ungroup dissolves it', () => {
  let s = vs.initialState(g);
  s = vs.group(s, feats.slice(0, 3), 'Texas');
  s = vs.group(s, feats.slice(2, 5), 'Texas');
  assert.deepEqual(s.supernodes.map((x) => [x.label, x.ids]), [['Texas', feats.slice(0, 2)], ['Texas (2)', feats.slice(2, 5)]]);
  assert.deepEqual(s.selected, [vs.supernodeKey('Texas (2)')]);
  assert.deepEqual(vs.selectedMembers(s), feats.slice(2, 5));
  for (const id of feats.slice(0, 5)) assert.ok(s.pinned.includes(id), 'members are pinned into the subgraph');
  s = vs.toggleExpanded(s, 'Texas (2)');
  assert.deepEqual(s.selected, feats.slice(2, 5), 'expanding a selected group selects its members');
  s = vs.toggleExpanded(s, 'Texas (2)');
  assert.deepEqual(s.selected, [vs.supernodeKey('Texas (2)')]);
  s = vs.ungroup(s);
  assert.deepEqual(s.supernodes.map((x) => x.label), ['Texas']);
  assert.deepEqual(s.selected, feats.slice(2, 5));
});

test('saved state is reused for the same graph only, and only with ids that still exist', () => {
  let s = vs.clickNode(vs.initialState(g), feats[0], false);
  s = vs.setViewport(vs.togglePins(s), { zoomX: 0.5, zoomY: 1.2, panX: 10, panY: -4 });
  const saved = JSON.parse(JSON.stringify(vs.rememberState(undefined, { ...s, pinned: [...s.pinned, 'no-such-node'] })));
  const back = vs.recallState(g, saved)!;
  assert.deepEqual(back.pinned, [feats[0]]);
  assert.deepEqual(back.viewport, { zoomX: 0.5, zoomY: 1.2, panX: 10, panY: -4 });
  const other = normalizeGraph({ ...sampleGraph(4), metadata: { ...sampleGraph(4).metadata, slug: 'other' } });
  assert.equal(vs.recallState(other, saved), undefined);
  // Several graphs are remembered side by side.
  const two = vs.rememberState(saved, vs.initialState(other));
  assert.ok(vs.recallState(g, two) && vs.recallState(other, two));
});
