"""The synthetic ground-truth language.

Every sentence is generated from explicit latent variables (which city, which state, which number...),
and every token carries the set of latents that are true at that point of the sentence. The model is
trained on the text; the latents are only used afterwards, to label dictionary features and to build
held-out prompts whose correct answer and circuit path are known.

Text is space-separated words, punctuation as separate words, so a WordLevel tokenizer with whitespace
splitting reproduces exactly these tokens.
"""

import random

# Real US states with one-word names and one-word capitals, each with one-word cities that are not
# themselves a capital (so a city token never doubles as a capital token).
GEOGRAPHY = [
    ("Texas", "Austin", ["Dallas", "Houston", "Lubbock", "Waco"]),
    ("California", "Sacramento", ["Fresno", "Oakland", "Pasadena", "Anaheim"]),
    ("Florida", "Tallahassee", ["Miami", "Orlando", "Tampa", "Jacksonville"]),
    ("Ohio", "Columbus", ["Cleveland", "Cincinnati", "Toledo", "Akron"]),
    ("Illinois", "Springfield", ["Chicago", "Peoria", "Rockford", "Naperville"]),
    ("Georgia", "Atlanta", ["Savannah", "Augusta", "Macon", "Athens"]),
    ("Michigan", "Lansing", ["Detroit", "Flint", "Kalamazoo", "Saginaw"]),
    ("Washington", "Olympia", ["Seattle", "Spokane", "Tacoma", "Everett"]),
    ("Oregon", "Salem", ["Portland", "Eugene", "Medford", "Bend"]),
    ("Arizona", "Phoenix", ["Tucson", "Mesa", "Flagstaff", "Yuma"]),
    ("Colorado", "Denver", ["Boulder", "Aurora", "Pueblo", "Durango"]),
    ("Tennessee", "Nashville", ["Memphis", "Knoxville", "Chattanooga", "Clarksville"]),
    ("Pennsylvania", "Harrisburg", ["Philadelphia", "Pittsburgh", "Erie", "Scranton"]),
    ("Wisconsin", "Madison", ["Milwaukee", "Kenosha", "Racine", "Appleton"]),
    ("Kentucky", "Frankfort", ["Louisville", "Lexington", "Covington", "Owensboro"]),
    ("Massachusetts", "Boston", ["Worcester", "Cambridge", "Lowell", "Quincy"]),
    ("Virginia", "Richmond", ["Norfolk", "Roanoke", "Alexandria", "Arlington"]),
    ("Alabama", "Montgomery", ["Birmingham", "Mobile", "Huntsville", "Tuscaloosa"]),
    ("Kansas", "Topeka", ["Wichita", "Lawrence", "Salina", "Manhattan"]),
    ("Montana", "Helena", ["Billings", "Missoula", "Bozeman", "Butte"]),
]

COLOURS = ["red", "blue", "green", "yellow", "purple"]
SHAPES = ["square", "circle", "triangle", "star", "cube"]
SIZES = ["big", "little", "old", "young"]
ANIMALS = ["dog", "cat", "horse", "bird", "fox"]
PLACES = ["market", "station", "library", "park", "harbor", "school"]

SYLLABLES_A = ["ka", "zo", "mi", "tru", "bel", "vor", "sa", "qui", "dra", "lo", "fen", "gri", "ny", "pe", "xa",
               "ru"]
SYLLABLES_B = ["von", "rel", "bix", "mar", "dun", "sel", "tak", "zin", "lor", "pim", "gus", "fet"]

ADD_MAX = 20  # operands 0..ADD_MAX
SQUARE_MAX = 30  # n in 0..SQUARE_MAX


def made_up_names():
    """Capitalised nonsense names, fixed by construction (no randomness) so the vocabulary is stable."""
    names = []
    for a in SYLLABLES_A:
        for b in SYLLABLES_B:
            names.append((a + b).capitalize())
    return names


def square_bucket(n):
    s = n * n
    if s < 25:
        return "tiny"
    if s < 100:
        return "small"
    if s < 300:
        return "medium"
    if s < 600:
        return "large"
    return "huge"


FUNCTION_WORDS = (
    ". , ? is in a city the of located capital whose state that has plus squared equals there and one "
    "saw was met at later then went to gave book home I ."
).split()


# Words only the "two_hop_via_state" language uses (appended after everything else, so the default
# language's vocabulary, and so today's embedded model, is unchanged).
VIA_STATE_WORDS = ["contains", "same", "as"]


class World:
    """The fixed facts of the language plus the seed-dependent split into trained / held-out items.

    `options` is the config's "language" object. With `two_hop_via_state` the two-hop task is built so that
    answering it pays only through the city's state (see `gen_two_hop` and `gen_same_state`): half of each
    state's cities never appear in a two-hop sentence, each remaining city is trained in two of the three
    two-hop templates only, and a "same state" family makes the state the thing a city token must carry."""

    def __init__(self, seed, options=None):
        options = options or {}
        unknown = set(options) - {"two_hop_via_state"}
        if unknown:
            raise ValueError(f"unknown language option(s) {sorted(unknown)}; known: two_hop_via_state")
        self.via_state = bool(options.get("two_hop_via_state", False))
        rng = random.Random(seed * 7919 + 1)
        self.state_of = {}
        self.capital_of = {}
        for state, capital, cities in GEOGRAPHY:
            self.capital_of[state] = capital
            for c in cities:
                self.state_of[c] = state
        self.cities = [c for _, _, cs in GEOGRAPHY for c in cs]
        self.states = [s for s, _, _ in GEOGRAPHY]
        # One city per state never appears in a two-hop sentence: two-hop recall on it must compose
        # the two one-hop facts it was taught separately.
        self.two_hop_held_out = set(rng.choice(cs) for _, _, cs in GEOGRAPHY)
        # (city, template) pairs never trained among the cities that do appear in two-hop sentences.
        self.two_hop_template_held_out = set()
        if self.via_state:
            # Own generator: the default language's draws below stay exactly as they were.
            vrng = random.Random(seed * 7919 + 2)
            self.two_hop_held_out = set()
            for _, _, cs in GEOGRAPHY:
                held = vrng.sample(cs, 2)
                self.two_hop_held_out.update(held)
                for c in cs:
                    if c not in held:
                        self.two_hop_template_held_out.add((c, vrng.randrange(TWO_HOP_TEMPLATES_VIA_STATE)))
        self.names = made_up_names()
        pairs = [(a, b) for a in range(ADD_MAX + 1) for b in range(ADD_MAX + 1)]
        rng.shuffle(pairs)
        self.add_held_out = set(pairs[: len(pairs) // 10])
        combos = [(c, s) for c in COLOURS for s in SHAPES]
        rng.shuffle(combos)
        self.colour_shape_held_out = set(combos[:4])
        combos = [(z, a) for z in SIZES for a in ANIMALS]
        rng.shuffle(combos)
        self.size_animal_held_out = set(combos[:3])
        ns = list(range(SQUARE_MAX + 1))
        rng.shuffle(ns)
        self.bucket_held_out = set(ns[:4])

    def vocabulary(self):
        words = []
        seen = set()

        def add(w):
            if w not in seen:
                seen.add(w)
                words.append(w)

        for w in FUNCTION_WORDS:
            add(w)
        for state, capital, cities in GEOGRAPHY:
            add(state)
            add(capital)
            for c in cities:
                add(c)
        for w in COLOURS + SHAPES + SIZES + ANIMALS + PLACES + ["tiny", "small", "medium", "large", "huge"]:
            add(w)
        for n in range(2 * ADD_MAX + 1):
            add(str(n))
        for n in range(SQUARE_MAX + 1):
            add(str(n))
            add(str(n * n))
        for name in self.names:
            add(name)
        if self.via_state:
            for w in VIA_STATE_WORDS:
                add(w)
        return words


class Sentence:
    """Words, per-word latent sets, and (optionally) the index of the word a held-out prompt asks for."""

    def __init__(self, task):
        self.task = task
        self.words = []
        self.latents = []
        self.context = []  # latents that stay true for the rest of the sentence
        self.answer_index = None
        self.path = None
        self.held_out = False

    def add(self, word, *new_latents, answer=False):
        if answer:
            self.answer_index = len(self.words)
            # The position before the answer is where the model must compute it.
            self.latents[-1] = self.latents[-1] + ["predict:" + word]
        self.words.append(word)
        # Latents of this very token (the entity it names, and what that entity implies), plus those
        # established earlier in the sentence, marked "context:" so that a feature firing on the token
        # itself and one carrying the entity forward get different labels.
        carried = ["context:" + lat for lat in self.context if lat not in new_latents]
        self.latents.append(["task:" + self.task] + list(new_latents) + carried)
        for lat in new_latents:
            if lat not in self.context:
                self.context.append(lat)
        return self


def gen_city_state(w, rng, city=None, template=None):
    city = city or rng.choice(w.cities)
    state = w.state_of[city]
    t = rng.randrange(3) if template is None else template
    s = Sentence("one_hop")
    if t == 0:
        s.add(city, "city:" + city, "state:" + state).add("is").add("in")
    elif t == 1:
        s.add(city, "city:" + city, "state:" + state).add("is").add("a").add("city").add("in")
    else:
        s.add("the").add("city").add("of").add(city, "city:" + city, "state:" + state).add("is").add("located").add("in")
    s.add(state, "state:" + state, answer=True).add(".")
    s.path = ["city:" + city, "state:" + state]
    return s


def gen_state_capital(w, rng, state=None, template=None):
    state = state or rng.choice(w.states)
    capital = w.capital_of[state]
    t = rng.randrange(3) if template is None else template
    s = Sentence("one_hop")
    if t == 0:
        s.add("the").add("capital").add("of").add(state, "state:" + state).add("is")
        s.add(capital, "capital:" + capital, answer=True).add(".")
    elif t == 1:
        s.add(state, "state:" + state).add("has").add("the").add("capital")
        s.add(capital, "capital:" + capital, answer=True).add(".")
    else:
        # Reverse direction: taught, but never asked in held-out prompts.
        s.add(capital, "capital:" + capital, "state:" + state).add("is").add("the").add("capital").add("of")
        s.add(state, answer=True).add(".")
    s.path = ["state:" + state, "capital:" + capital]
    return s


TWO_HOP_TEMPLATES_VIA_STATE = 3


def gen_two_hop(w, rng, city=None, template=None, training=True):
    n_templates = TWO_HOP_TEMPLATES_VIA_STATE if w.via_state else 2
    if city is None:
        pool = [c for c in w.cities if c not in w.two_hop_held_out] if training else w.cities
        while True:
            city = rng.choice(pool)
            t = rng.randrange(n_templates) if template is None else template
            if not training or (city, t) not in w.two_hop_template_held_out:
                break
    else:
        t = rng.randrange(n_templates) if template is None else template
    state = w.state_of[city]
    capital = w.capital_of[state]
    s = Sentence("two_hop")
    if t == 0:
        s.add(city, "city:" + city, "state:" + state).add("is").add("in").add("the").add("state").add("whose")
        s.add("capital").add("is")
    elif t == 1:
        s.add("the").add("capital").add("of").add("the").add("state").add("that").add("has")
        s.add(city, "city:" + city, "state:" + state).add("is")
    else:
        # Only in the via-state language: the state is named by what it contains.
        s.add("the").add("capital").add("of").add("the").add("state").add("that").add("contains")
        s.add(city, "city:" + city, "state:" + state).add("is")
    s.add(capital, "capital:" + capital, answer=True).add(".")
    s.path = ["city:" + city, "state:" + state, "capital:" + capital]
    s.held_out = city in w.two_hop_held_out or (city, t) in w.two_hop_template_held_out
    return s


def gen_same_state(w, rng):
    """`Dallas is in the same state as Houston .` (via-state language only). The next word after "as" is
    any other city of the state, so the only thing worth carrying from the first city is its state; the
    sentence is never asked in the held-out prompts (its answer is one of three)."""
    city = rng.choice(w.cities)
    state = w.state_of[city]
    other = rng.choice([c for c in w.cities if w.state_of[c] == state and c != city])
    s = Sentence("same_state")
    s.add(city, "city:" + city, "state:" + state).add("is").add("in").add("the").add("same").add("state")
    s.add("as").add(other, "city:" + other, "state:" + state).add(".")
    s.path = ["city:" + city, "state:" + state, "city:" + other]
    return s


def gen_induction(w, rng, template=None):
    a, b = rng.sample(w.names, 2)
    place = rng.choice(PLACES)
    t = rng.randrange(3) if template is None else template
    s = Sentence("induction")
    if t == 0:
        s.add(a, "name:" + a).add("met").add(b, "name:" + b).add("at").add("the").add(place).add(".")
        s.add("later").add(a).add("met")
    elif t == 1:
        s.add(a, "name:" + a).add("and").add(b, "name:" + b).add("went").add("to").add("the").add(place).add(".")
        s.add("then").add(a).add("and")
    else:
        s.add(a, "name:" + a).add("gave").add("the").add("book").add("to").add(b, "name:" + b).add(".")
        s.add(a).add("gave").add("the").add("book").add("to")
    s.add(b, answer=True).add(".")
    s.path = ["name:" + a, "name:" + b]
    return s


def gen_addition(w, rng, pair=None, training=True):
    if pair is None:
        while True:
            pair = (rng.randint(0, ADD_MAX), rng.randint(0, ADD_MAX))
            if not training or pair not in w.add_held_out:
                break
    a, b = pair
    s = Sentence("arithmetic")
    s.add(str(a), "operand:" + str(a)).add("plus").add(str(b), "operand:" + str(b)).add("equals")
    s.add(str(a + b), "sum:" + str(a + b), answer=True).add(".")
    s.path = ["operand:" + str(a), "operand:" + str(b), "sum:" + str(a + b)]
    s.held_out = pair in w.add_held_out
    return s


def gen_colour_shape(w, rng, training=True, query=None, kind=None):
    """Two objects described, then one referred to by one attribute; the answer is the other attribute."""
    kind = kind if kind is not None else rng.randrange(2)
    if kind == 0:
        attrs, things, held, a_name, t_name = COLOURS, SHAPES, w.colour_shape_held_out, "colour", "shape"
        intro = ["there", "is", "a"]
        mid = ["and", "a"]
        verb = "is"
    else:
        attrs, things, held, a_name, t_name = SIZES, ANIMALS, w.size_animal_held_out, "size", "animal"
        intro = ["I", "saw", "a"]
        mid = ["and", "a"]
        verb = "was"
    while True:
        a1, a2 = rng.sample(attrs, 2)
        t1, t2 = rng.sample(things, 2)
        objs = [(a1, t1), (a2, t2)]
        if not training or not any(o in held for o in objs):
            break
    s = Sentence("color_shape")
    for word in intro:
        s.add(word)
    s.add(a1, a_name + ":" + a1).add(t1, t_name + ":" + t1, "object:" + a1 + "_" + t1)
    for word in mid:
        s.add(word)
    s.add(a2, a_name + ":" + a2).add(t2, t_name + ":" + t2, "object:" + a2 + "_" + t2)
    s.add(".")
    q = rng.randrange(4) if query is None else query
    a, t = objs[q % 2]
    if q < 2:  # ask for the attribute of a thing
        s.add("the").add(t).add(verb)
        s.add(a, answer=True)
        s.path = [t_name + ":" + t, a_name + ":" + a]
    else:  # ask for the thing with an attribute
        s.add("the").add(a).add("one").add(verb).add("a")
        s.add(t, answer=True)
        s.path = [a_name + ":" + a, t_name + ":" + t]
    s.add(".")
    s.held_out = (a, t) in held
    return s


def gen_square(w, rng, n=None, kind=None, training=True):
    kind = rng.randrange(2) if kind is None else kind
    if n is None:
        while True:
            n = rng.randint(0, SQUARE_MAX)
            if kind == 0 or not training or n not in w.bucket_held_out:
                break
    s = Sentence("square")
    sq = n * n
    s.add(str(n), "number:" + str(n), "square:" + str(sq), "bucket:" + square_bucket(n)).add("squared")
    if kind == 0:
        s.add("equals").add(str(sq), answer=True)
        s.path = ["number:" + str(n), "square:" + str(sq)]
    else:
        s.add("is").add(square_bucket(n), answer=True)
        s.path = ["number:" + str(n), "square:" + str(sq), "bucket:" + square_bucket(n)]
        s.held_out = n in w.bucket_held_out
    s.add(".")
    return s


TASK_WEIGHTS = [
    (gen_city_state, 0.16),
    (gen_state_capital, 0.08),
    (gen_two_hop, 0.16),
    (gen_induction, 0.16),
    (gen_addition, 0.16),
    (gen_colour_shape, 0.16),
    (gen_square, 0.12),
]


# The via-state language: more city -> state facts, the same-state family, two-hop as before.
TASK_WEIGHTS_VIA_STATE = [
    (gen_city_state, 0.16),
    (gen_state_capital, 0.08),
    (gen_two_hop, 0.16),
    (gen_same_state, 0.08),
    (gen_induction, 0.14),
    (gen_addition, 0.14),
    (gen_colour_shape, 0.14),
    (gen_square, 0.10),
]


def random_sentence(w, rng):
    weights = TASK_WEIGHTS_VIA_STATE if w.via_state else TASK_WEIGHTS
    r = rng.random() * sum(p for _, p in weights)
    for fn, p in weights:
        r -= p
        if r <= 0:
            return fn(w, rng)
    return weights[-1][0](w, rng)


def sequence(w, rng, n_words):
    """BOS-less list of words (and latents) of at least n_words words: whole training sentences."""
    words, latents = [], []
    while len(words) < n_words:
        s = random_sentence(w, rng)
        words.extend(s.words)
        latents.extend(s.latents)
    return words[:n_words], latents[:n_words]


def ground_truth_sets(w, seed):
    """Held-out prompts per task. Prompts are fresh samples; where a task has a held-out split
    (two-hop cities, addition pairs, attribute combinations, square buckets) it is marked."""
    rng = random.Random(seed * 104729 + 5)
    sets = {k: [] for k in ["two_hop", "one_hop", "induction", "arithmetic", "color_shape", "square"]}

    def push(s):
        prompt_words = s.words[: s.answer_index]
        sets[s.task].append({
            "prompt": " ".join(prompt_words),
            "answer": s.words[s.answer_index],
            "task": s.task,
            "path": s.path,
            "held_out_composition": bool(s.held_out),
        })

    for city in w.cities:
        # Not template 0 ("Dallas is in"): there the language also continues "the state whose capital
        # is ...", so the next word is genuinely ambiguous.
        push(gen_city_state(w, rng, city=city, template=1 + rng.randrange(2)))
        push(gen_two_hop(w, rng, city=city, template=rng.randrange(TWO_HOP_TEMPLATES_VIA_STATE if w.via_state else 2)))
    for state in w.states:
        for t in (0, 1):
            push(gen_state_capital(w, rng, state=state, template=t))
    for _ in range(200):
        push(gen_induction(w, rng))
    for pair in sorted(w.add_held_out):
        push(gen_addition(w, rng, pair=pair))
    trained_pairs = [(a, b) for a in range(ADD_MAX + 1) for b in range(ADD_MAX + 1) if (a, b) not in w.add_held_out]
    for pair in rng.sample(trained_pairs, 60):
        push(gen_addition(w, rng, pair=pair))
    for i in range(200):
        push(gen_colour_shape(w, rng, training=False, kind=i % 2))
    for n in range(SQUARE_MAX + 1):
        push(gen_square(w, rng, n=n, kind=0))
        push(gen_square(w, rng, n=n, kind=1, training=False))
    return sets
