/**
 * The synthetic language's "two_hop_via_state" option (tools/train/language.py): what it promises, checked
 * on the generator's own output. Off by default, the language (vocabulary, training stream, held-out
 * prompts) is the default one (configs/toy.json, the first embedded model's); on (configs/toy-via-state.json,
 * the shipped model's), the held-out compositions are never trained, and the sentences the option adds are there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
const PYTHON = process.env.PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

const SCRIPT = String.raw`
import json, random, sys
sys.path.insert(0, "tools/train")
import language

def stream(w, seed, n):
    rng = random.Random(seed)
    return [language.random_sentence(w, rng) for _ in range(n)]

out = {}
plain, again, via = language.World(1234), language.World(1234, {}), language.World(1234, {"two_hop_via_state": True})
out["defaultSame"] = [s.words for s in stream(plain, 5, 300)] == [s.words for s in stream(again, 5, 300)]
out["defaultHeldOut"] = sorted(plain.two_hop_held_out)
out["defaultVocab"] = plain.vocabulary()
out["viaVocab"] = via.vocabulary()
out["viaHeldOutCities"] = sorted(via.two_hop_held_out)
out["viaHeldOutPairs"] = sorted([list(p) for p in via.two_hop_template_held_out])
seen, families = set(), {}
for s in stream(via, 11, 6000):
    families[s.task] = families.get(s.task, 0) + 1
    if s.task == "two_hop":
        city = s.path[0][5:]
        t = 0 if s.words[0] == city else (1 if "has" in s.words else 2)
        seen.add((city, t))
    if s.task == "same_state":
        a, b = s.path[0][5:], s.path[2][5:]
        assert a != b and via.state_of[a] == via.state_of[b], s.words
out["viaTrainedPairs"] = sorted([list(p) for p in seen])
out["families"] = families
gt = language.ground_truth_sets(via, 1234)["two_hop"]
out["gt"] = [[g["path"][0][5:], g["prompt"], g["held_out_composition"]] for g in gt]
try:
    language.World(1, {"two_hop_via_stat": True})
    out["typo"] = None
except ValueError as e:
    out["typo"] = str(e)
print(json.dumps(out))
`;

function havePython(): boolean {
  return spawnSync(PYTHON, ['-c', 'import random, json'], { stdio: 'ignore' }).status === 0;
}

test('language option two_hop_via_state: default unchanged; held-out compositions never trained; new families present', { skip: havePython() ? false : `${PYTHON} is not installed` }, () => {
  const r = spawnSync(PYTHON, ['-c', SCRIPT], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.defaultSame, true, 'an empty options object changes the default language');
  // One held-out city per state in the default language; the via-state vocabulary only appends words.
  assert.equal(o.defaultHeldOut.length, 20);
  assert.deepEqual(o.viaVocab.slice(0, o.defaultVocab.length), o.defaultVocab);
  assert.deepEqual(o.viaVocab.slice(o.defaultVocab.length), ['contains', 'same', 'as']);
  assert.ok(!o.defaultVocab.includes('contains') && !o.defaultVocab.includes('same'));
  // Via state: two cities per state never in a two-hop sentence, one template held out for each other city.
  assert.equal(o.viaHeldOutCities.length, 40);
  assert.equal(o.viaHeldOutPairs.length, 40);
  const trained = new Set(o.viaTrainedPairs.map((p: [string, number]) => `${p[0]}|${p[1]}`));
  for (const c of o.viaHeldOutCities) for (const t of [0, 1, 2]) assert.ok(!trained.has(`${c}|${t}`), `${c} appears in a two-hop sentence (template ${t})`);
  for (const [c, t] of o.viaHeldOutPairs) assert.ok(!trained.has(`${c}|${t}`), `${c} is trained in its held-out template ${t}`);
  // Every other (city, template) pair is trained (6,000 sentences make missing one vanishingly unlikely).
  assert.equal(trained.size, 40 * 3 - 40);
  assert.ok(o.families.same_state > 300 && o.families.two_hop > 600, JSON.stringify(o.families));
  // The held-out prompts mark exactly the untrained compositions.
  const heldPairs = new Set(o.viaHeldOutPairs.map((p: [string, number]) => `${p[0]}|${p[1]}`));
  for (const [city, prompt, held] of o.gt) {
    const t = prompt.startsWith(city) ? 0 : prompt.includes(' has ') ? 1 : 2;
    assert.equal(held, o.viaHeldOutCities.includes(city) || heldPairs.has(`${city}|${t}`), prompt);
  }
  assert.match(o.typo, /unknown language option/);
});
