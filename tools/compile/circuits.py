"""The named circuits: each function returns a Builder with its weights set, the task's prompts and the
ground truth (variables and per-prompt edges) as circuit.json will list them.

A prompt record: {"prompt", "answer", "positions": {role: index}, "active": {variable: index},
"edges": [[source, target, via]]}. Indices count BOS as position 0. A variable of kind "feature" has a
layer (the MLP that computes it), a role (the position where it lives) and the unit direction it writes;
"embedding" and "logit" variables name a token. An edge's `via` says how the source reaches the target;
"qk" edges act through an attention pattern, which attribution graphs (frozen attention) do not show.
"""


import numpy as np

from builder import Builder

FILLERS_TWO_HOP = ["is", "in", "the", "state", "whose", "capital", "of"]

STATES = {
    "Texas": ("Austin", ["Dallas", "Houston", "Lubbock"]),
    "California": ("Sacramento", ["Fresno", "Oakland", "Modesto"]),
    "Ohio": ("Columbus", ["Dayton", "Toledo", "Akron"]),
    "Florida": ("Tallahassee", ["Miami", "Tampa", "Orlando"]),
}

STATES_NOISY = {
    "Texas": ("Austin", ["Dallas", "Houston", "Lubbock", "Waco"]),
    "California": ("Sacramento", ["Fresno", "Oakland", "Modesto", "Irvine"]),
    "Ohio": ("Columbus", ["Dayton", "Toledo", "Akron", "Canton"]),
    "Florida": ("Tallahassee", ["Miami", "Tampa", "Orlando", "Naples"]),
    "Georgia": ("Atlanta", ["Savannah", "Macon", "Augusta", "Athens"]),
    "Oregon": ("Salem", ["Portland", "Eugene", "Bend", "Medford"]),
    "Nevada": ("Carson", ["Reno", "Henderson", "Elko", "Sparks"]),
    "Utah": ("SaltLake", ["Provo", "Ogden", "Logan", "Orem"]),
}

BETA = 8.0  # unembedding gain: logit ≈ BETA / rms for a unit answer direction


def feature_var(layer, role, direction, description, neurons):
    """neurons: the MLP units (indices into the layer's intermediate dimension) that compute the variable."""
    return {"kind": "feature", "layer": layer, "role": role, "direction": [round(float(x), 6) for x in direction],
            "neurons": [int(n) for n in neurons], "description": description}


def two_hop(noisy=False, seed=0):
    states = STATES_NOISY if noisy else STATES
    cities = [c for _, (_, cs) in states.items() for c in cs]
    capitals = [k for k, _ in states.values()]
    words = FILLERS_TWO_HOP + cities + list(states) + capitals
    name = "two-hop-noisy" if noisy else "two-hop"
    b = Builder(name, words, n_layers=3, d_model=80 if noisy else 64, superpose=noisy, seed=seed)
    rng = np.random.default_rng(seed + 1)
    b.embed_token("<bos>", [])
    for w in FILLERS_TWO_HOP:
        b.embed_token(w, [(f"tok:{w}", 1.0)])
    for c in cities:
        b.embed_token(c, [(f"tok:{c}", 1.0), ("subject", 1.0)])
    # A state's own token carries its state direction, as the city's layer 0 MLP writes it: one-hop
    # prompts ("the capital of Texas is") use the layer 1 MLP alone, and they are why a transcoder can
    # learn that the capital unit reads the state rather than the city (in two-hop text alone the two
    # always come together).
    for s in states:
        b.embed_token(s, [(f"tok:{s}", 1.0), ("subject", 1.0), (f"state:{s}", 1.0)])
    for k in capitals:
        b.embed_token(k, [(f"tok:{k}", 1.0)])
    # Interference (superposition, noise) shrinks a unit's margin and with it its output: the noisy
    # model's units write more strongly so every stage stays well past the next one's threshold.
    gain, theta = (1.6, 0.4) if noisy else (1.0, 0.5)
    units = {}
    # Layer 0 MLP: the city's state. Layer 1 MLP: the state's capital. (Noisy: each state is computed by two
    # neurons that split its cities, a polysemantic-free but split representation.)
    for s, (k, cs) in states.items():
        groups = [cs[: len(cs) // 2], cs[len(cs) // 2:]] if noisy else [cs]
        units[f"state:{s}"] = [b.neuron(0, [(f"tok:{c}", 1.0) for c in g], theta, [(f"state:{s}", gain)]) for g in groups]
        units[f"capital:{k}"] = [b.neuron(1, [(f"state:{s}", 1.0)], theta, [(f"capital:{k}", gain)])]
    b.bias_head(1)
    # Layer 2, head 0: every position after the subject (city or state) attends to it and copies its capital.
    b.content_head(2, 0, [(b.dir("one") / b.A, "subject")], score=16.0, sink_score=6.0,
                   ov=[(f"capital:{k}", f"answer:{k}", 1.0) for k in capitals])
    for k in capitals:
        b.unembed(k, [(f"answer:{k}", BETA)])
    if noisy:
        _distractors(b, rng, [0, 1], n=12)
    variables = {}
    for c in list(cities) + list(states):
        variables[f"emb:{c}"] = {"kind": "embedding", "token": c, "description": f"the token {c}"}
    for s, (k, _) in states.items():
        variables[f"state:{s}"] = feature_var(0, "subject", b.dir(f"state:{s}"), f"the city is in {s} (layer 0 MLP, at the city)", units[f"state:{s}"])
        variables[f"capital:{k}"] = feature_var(1, "subject", b.dir(f"capital:{k}"), f"the capital is {k} (layer 1 MLP, at the city or state)", units[f"capital:{k}"])
        variables[f"logit:{k}"] = {"kind": "logit", "token": k, "description": f"the output {k}"}
    prompts = []
    template = "{} is in the state whose capital is"
    for s, (k, cs) in states.items():
        for c in cs:
            text = template.format(c)
            last = len(text.split())
            prompts.append({
                "prompt": text, "answer": k, "positions": {"subject": 1, "last": last},
                "active": {f"emb:{c}": 1, f"state:{s}": 1, f"capital:{k}": 1, f"logit:{k}": last},
                "edges": [[f"emb:{c}", f"state:{s}", "residual (layer 0 MLP reads the city token)"],
                          [f"state:{s}", f"capital:{k}", "residual (layer 1 MLP reads the state)"],
                          [f"capital:{k}", f"logit:{k}", "attention layer 2 head 0 (OV), city → last position"]],
            })
        text = f"the capital of {s} is"
        prompts.append({
            "prompt": text, "answer": k, "positions": {"subject": 4, "last": 5},
            "active": {f"emb:{s}": 4, f"capital:{k}": 4, f"logit:{k}": 5},
            "edges": [[f"emb:{s}", f"capital:{k}", "residual (layer 1 MLP reads the state token's state direction)"],
                      [f"capital:{k}", f"logit:{k}", "attention layer 2 head 0 (OV), state → last position"]],
        })
    edges_doc = [["emb:<city>", "state:<its state>", "residual"], ["state:<s>", "capital:<capital of s>", "residual"],
                 ["emb:<state> (one-hop prompts)", "capital:<its capital>", "residual"],
                 ["capital:<k>", "logit:<k>", "attention L2 H0 (OV)"]]
    return b, prompts, variables, edges_doc


NAMES = ["Kavon", "Tirel", "Mora", "Dax", "Elin", "Fenn", "Gala", "Hux", "Ivo", "Juno"]


def induction(seed=0):
    b = Builder("induction", NAMES + ["."], n_layers=2, d_model=64, seed=seed)
    b.embed_token("<bos>", [])
    b.embed_token(".", [("tok:.", 1.0)])
    for n in NAMES:
        b.embed_token(n, [(f"tok:{n}", 1.0)])
    # Layer 0: a previous-token head copies each token into `ptok:*` one position later; the MLP turns
    # that into the feature "the previous token was n".
    b.bias_head(1)
    b.prev_token_head(0, 0, ov=[(f"tok:{n}", f"ptok:{n}", 1.0) for n in NAMES])
    units = {f"prev:{n}": b.neuron(0, [(f"ptok:{n}", 1.0)], 0.5, [(f"prev:{n}", 1.0)]) for n in NAMES}
    # Layer 1: the induction head. Query: the current token; key: "previous token was"; value: the token
    # at the key's position, written to `copy:*`; the MLP turns that into "say n".
    b.content_head(1, 0, [(f"tok:{n}", f"prev:{n}") for n in NAMES], score=16.0, sink_score=6.0,
                   ov=[(f"tok:{n}", f"copy:{n}", 1.0) for n in NAMES])
    for n in NAMES:
        units[f"say:{n}"] = b.neuron(1, [(f"copy:{n}", 1.0)], 0.5, [(f"say:{n}", 1.0)])
        b.unembed(n, [(f"say:{n}", BETA)])
    variables = {}
    for n in NAMES:
        variables[f"emb:{n}"] = {"kind": "embedding", "token": n, "description": f"the token {n}"}
        variables[f"prev:{n}"] = feature_var(0, "second", b.dir(f"prev:{n}"),
                                             f"the previous token was {n} (layer 0 MLP, after the previous-token head)", [units[f"prev:{n}"]])
        variables[f"say:{n}"] = feature_var(1, "last", b.dir(f"say:{n}"), f"say {n} (layer 1 MLP, after the induction head)", [units[f"say:{n}"]])
        variables[f"logit:{n}"] = {"kind": "logit", "token": n, "description": f"the output {n}"}
    rng = np.random.default_rng(seed + 7)
    prompts = []
    seen = set()
    while len(prompts) < 24:
        k = int(rng.integers(4, 7))
        seq = [NAMES[i] for i in rng.permutation(len(NAMES))[:k]]
        i = int(rng.integers(0, k - 1))
        key = (tuple(seq), i)
        if key in seen:
            continue
        seen.add(key)
        a, bb = seq[i], seq[i + 1]
        text = " ".join(seq + [a])
        first, second, last = i + 1, i + 2, k + 1
        prompts.append({
            "prompt": text, "answer": bb, "positions": {"first": first, "second": second, "last": last},
            "active": {f"emb:{a}": first, f"emb:{bb}": second, f"prev:{a}": second, f"say:{bb}": last, f"logit:{bb}": last},
            "edges": [[f"emb:{a}", f"prev:{a}", "attention layer 0 head 0 (previous-token head, OV)"],
                      [f"emb:{bb}", f"say:{bb}", "attention layer 1 head 0 (induction head, OV)"],
                      [f"say:{bb}", f"logit:{bb}", "residual"],
                      [f"prev:{a}", f"say:{bb}", "qk"]],
        })
    edges_doc = [["emb:<A>", "prev:<A> (one position later)", "attention L0 H0 (OV)"],
                 ["emb:<B>", "say:<B> (last position)", "attention L1 H0 (OV)"], ["say:<B>", "logit:<B>", "residual"],
                 ["prev:<A>", "say:<B>", "qk: the induction head's key (not an edge of an attribution graph)"]]
    return b, prompts, variables, edges_doc


COLOURS = ["red", "blue", "green"]
SHAPES = ["square", "circle", "triangle"]
OBJECTS = {("red", "square"): "brick", ("red", "circle"): "cherry", ("red", "triangle"): "pennant",
           ("blue", "square"): "tile", ("blue", "circle"): "marble", ("blue", "triangle"): "sail",
           ("green", "square"): "lawn", ("green", "circle"): "pea", ("green", "triangle"): "tree"}


def colour_shape(seed=0):
    fillers = ["a", "is", "called"]
    b = Builder("colour-shape", fillers + COLOURS + SHAPES + list(OBJECTS.values()), n_layers=2, d_model=64, seed=seed)
    b.embed_token("<bos>", [])
    for w in fillers + list(OBJECTS.values()):
        b.embed_token(w, [(f"tok:{w}", 1.0)])
    for c in COLOURS:
        b.embed_token(c, [(f"tok:{c}", 1.0), ("iscolour", 1.0)])
    for s in SHAPES:
        b.embed_token(s, [(f"tok:{s}", 1.0), ("isshape", 1.0)])
    b.bias_head(0)
    # Layer 0 MLP: atomic colour and shape variables at their own tokens.
    units = {}
    for c in COLOURS:
        units[f"colour:{c}"] = b.neuron(0, [(f"tok:{c}", 1.0)], 0.5, [(f"colour:{c}", 1.0)])
    for s in SHAPES:
        units[f"shape:{s}"] = b.neuron(0, [(f"tok:{s}", 1.0)], 0.5, [(f"shape:{s}", 1.0)])
    # Layer 1: head 0 brings the colour variable forward, head 1 the shape; the MLP's neuron per
    # (colour, shape) fires only when both arrive (threshold 1.5 of 2).
    one = b.dir("one") / b.A
    b.content_head(1, 0, [(one, "iscolour")], score=16.0, sink_score=6.0, ov=[(f"colour:{c}", f"mcolour:{c}", 1.0) for c in COLOURS])
    b.content_head(1, 1, [(one, "isshape")], score=16.0, sink_score=6.0, ov=[(f"shape:{s}", f"mshape:{s}", 1.0) for s in SHAPES])
    for (c, s), o in OBJECTS.items():
        units[f"object:{o}"] = b.neuron(1, [(f"mcolour:{c}", 1.0), (f"mshape:{s}", 1.0)], 1.5, [(f"object:{o}", 1.0)])
        b.unembed(o, [(f"object:{o}", BETA)])
    variables = {}
    for c in COLOURS:
        variables[f"emb:{c}"] = {"kind": "embedding", "token": c, "description": f"the token {c}"}
        variables[f"colour:{c}"] = feature_var(0, "colour", b.dir(f"colour:{c}"), f"colour {c} (layer 0 MLP, at the colour word)", [units[f"colour:{c}"]])
    for s in SHAPES:
        variables[f"emb:{s}"] = {"kind": "embedding", "token": s, "description": f"the token {s}"}
        variables[f"shape:{s}"] = feature_var(0, "shape", b.dir(f"shape:{s}"), f"shape {s} (layer 0 MLP, at the shape word)", [units[f"shape:{s}"]])
    for (c, s), o in OBJECTS.items():
        variables[f"object:{o}"] = feature_var(1, "last", b.dir(f"object:{o}"), f"{c} and {s}: the {o} (layer 1 MLP, at the last position)", [units[f"object:{o}"]])
        variables[f"logit:{o}"] = {"kind": "logit", "token": o, "description": f"the output {o}"}
    prompts = []
    for (c, s), o in OBJECTS.items():
        text = f"a {c} {s} is called"
        prompts.append({
            "prompt": text, "answer": o, "positions": {"colour": 2, "shape": 3, "last": 5},
            "active": {f"emb:{c}": 2, f"emb:{s}": 3, f"colour:{c}": 2, f"shape:{s}": 3, f"object:{o}": 5, f"logit:{o}": 5},
            "edges": [[f"emb:{c}", f"colour:{c}", "residual"], [f"emb:{s}", f"shape:{s}", "residual"],
                      [f"colour:{c}", f"object:{o}", "attention layer 1 head 0 (OV)"],
                      [f"shape:{s}", f"object:{o}", "attention layer 1 head 1 (OV)"],
                      [f"object:{o}", f"logit:{o}", "residual"]],
        })
    edges_doc = [["emb:<c>", "colour:<c>", "residual"], ["emb:<s>", "shape:<s>", "residual"],
                 ["colour:<c>", "object:<c,s>", "attention L1 H0 (OV)"], ["shape:<s>", "object:<c,s>", "attention L1 H1 (OV)"],
                 ["object:<o>", "logit:<o>", "residual"]]
    return b, prompts, variables, edges_doc


N_SQUARE = 12


def square(seed=0):
    """x ↦ x² for x = 1…12. Layer 0's MLP has one ReLU unit per knot j + ½ (j = 0…11): y = 2 Σ_j relu(x − j − ½)
    equals x² at every integer. The number's embedding has a constant norm (x and a complement), so the
    units see x exactly; layer 1's head moves y to the last position, where layer 1's MLP decodes it: for
    each answer k a plateau of four ReLU units, 1 between the midpoints to its neighbours' values and 0
    outside (`square:k`), read by the answer's unembedding. The values y takes at the last position are
    calibrated on the compiled model's own forward pass before the plateaus are set (compile.py calls
    `square_readout`)."""
    nums = [str(n) for n in range(N_SQUARE + 1)]
    squares = [str(n * n) for n in range(N_SQUARE + 1)]
    words = ["squared", "is"] + nums + [s for s in squares if s not in nums]
    b = Builder("x-squared", words, n_layers=2, d_model=64, seed=seed)
    b.embed_token("<bos>", [])
    for w in words:
        b.embed_token(w, [(f"tok:{w}", 1.0)])
    X = 2.0
    for n in range(N_SQUARE + 1):
        u = n / N_SQUARE
        b.embed_token(str(n), [(f"tok:{n}", 1.0), ("isnum", 1.0), ("x", X * u), ("xcomp", X * np.sqrt(1 - u * u))])
    ysc = 2.0 / (N_SQUARE ** 2)
    b.bias_head(0)
    knots = [b.neuron(0, [("x", N_SQUARE / X)], j + 0.5, [("y", ysc)]) for j in range(N_SQUARE)]
    one = b.dir("one") / b.A
    b.content_head(1, 0, [(one, "isnum")], score=16.0, sink_score=6.0, ov=[("y", "yout", 1.0)])
    variables = {}
    for n in range(1, N_SQUARE + 1):
        variables[f"emb:{n}"] = {"kind": "embedding", "token": str(n), "description": f"the token {n}"}
        variables[f"logit:{n * n}"] = {"kind": "logit", "token": str(n * n), "description": f"the output {n * n}"}
    for j in range(N_SQUARE):
        variables[f"knot:{j}"] = feature_var(0, "number", b.dir("y"), f"x > {j}: the unit relu(x − {j}.5) of y = x² (layer 0 MLP)", [knots[j]])
    for n in range(1, N_SQUARE + 1):
        # Units and direction are filled in by square_readout; the direction is allocated here.
        variables[f"square:{n * n}"] = feature_var(1, "last", b.dir(f"square:{n * n}"), f"y decodes to {n * n} (layer 1 MLP, at the last position)", [])
    prompts = []
    for n in range(1, N_SQUARE + 1):
        text = f"{n} squared is"
        active = {f"emb:{n}": 1, f"square:{n * n}": 3, f"logit:{n * n}": 3}
        edges = []
        for j in range(n):
            active[f"knot:{j}"] = 1
            edges.append([f"emb:{n}", f"knot:{j}", "residual"])
            edges.append([f"knot:{j}", f"square:{n * n}", "attention layer 1 head 0 (OV)"])
        edges.append([f"square:{n * n}", f"logit:{n * n}", "residual"])
        prompts.append({"prompt": text, "answer": str(n * n), "positions": {"number": 1, "last": 3}, "active": active, "edges": edges})
    edges_doc = [["emb:<n>", "knot:<j> for every j < n", "residual"], ["knot:<j>", "square:<n²>", "attention L1 H0 (OV)"],
                 ["square:<k>", "logit:<k>", "residual"]]
    return b, prompts, variables, edges_doc


def square_readout(b, variables, ys):
    """ys[n]: the value along `yout` at the last position (unnormalised, the units' own scale) for x = n.
    Sets layer 1's plateau units and the unembedding."""
    t = np.array([ys[n] for n in range(N_SQUARE + 1)])
    assert np.all(np.diff(t) > 0), f"x-squared: y is not increasing in x: {t}"
    gap = float(np.diff(t).min())
    eps = 0.2 * gap
    sharp = 12.0 * 0.5 / (0.5 * eps)  # the gate stays sharp at margins of eps/2
    for n in range(1, N_SQUARE + 1):
        k = n * n
        lo = (t[n - 1] + t[n]) / 2
        hi = (t[n] + t[n + 1]) / 2 if n < N_SQUARE else t[n] + gap
        d = f"square:{k}"
        units = [b.neuron(1, [("yout", 1.0)], lo, [(d, 0.5 / eps)], sharp=sharp),
                 b.neuron(1, [("yout", 1.0)], lo + eps, [(d, -0.5 / eps)], sharp=sharp),
                 b.neuron(1, [("yout", 1.0)], hi - eps, [(d, -0.5 / eps)], sharp=sharp),
                 b.neuron(1, [("yout", 1.0)], hi, [(d, 0.5 / eps)], sharp=sharp)]
        variables[d]["neurons"] = units
        b.unembed(str(k), [(d, BETA)])


def _distractors(b, rng, layers, n):
    """Extra neurons that read random mixtures of the residual and write random directions, none of which
    the circuit reads: the dictionary has to tell them from the circuit's own units."""
    names = [k for k in b.dirs if k.startswith("tok:")]
    for l in layers:
        for i in range(n):
            picks = rng.choice(len(names), size=3, replace=False)
            reads = [(names[p], float(rng.uniform(0.6, 1.2))) for p in picks]
            b.neuron(l, reads, 0.5, [(f"distractor:{l}:{i}", 0.4)])


CIRCUITS = {
    "two-hop": lambda: two_hop(False),
    "induction": induction,
    "colour-shape": colour_shape,
    "x-squared": square,
    "two-hop-noisy": lambda: two_hop(True, seed=4),
}

