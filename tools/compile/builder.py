"""Hand-set weights for a Hugging Face-layout Llama (RMSNorm, rotary attention, SiLU-gated MLP, no biases).

The residual stream is a set of named directions (`Builder.dir`): one-hot basis vectors in a clean model,
random unit vectors in fewer dimensions than there are names in a superposed one. Every token embedding
carries a large constant component along `one`, which gives the bias-free Llama its bias terms:

- an MLP neuron's gate reads `w·x̂ − θ·(one·x̂)/A`, i.e. (w·x − θ)/rms(x): its sign (the neuron's threshold
  test) does not depend on the norm at all; its up projection reads `one` only, so `up = u/rms(x)` and the
  neuron computes silu(s(w·x − θ)/rms)·u/rms ≈ relu(w·x − θ)·s·u/rms² — a ReLU unit once the gate is
  sharp (`s` large), i.e. the MLP is piecewise linear in the range the circuit uses;
- attention scores read `one` on either side for position-only heads (a previous-token head, through
  the rotary angles of the fastest frequencies) and flags of the keys for content heads, written into
  the slowest rotary pairs, which barely turn over a prompt's length (rope_theta is large).

Norm gains are all 1, so `ln2.hook_normalized` (x/rms) is exactly the MLP's input and transcoders trained
on it are valid under either reading.
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))
import st_io  # noqa: E402
import tokenizer_io  # noqa: E402


def low_coherence_frame(n, d, rng, iters=400):
    """n unit vectors in d dims pushed apart: gradient steps on Σ (v_i·v_j)^8 (a soft max-coherence)."""
    V = rng.standard_normal((n, d))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    for _ in range(iters):
        G = V @ V.T
        np.fill_diagonal(G, 0.0)
        grad = (G ** 7) @ V
        V -= 0.025 * grad / (np.abs(grad).max() + 1e-12)
        V /= np.linalg.norm(V, axis=1, keepdims=True)
    return V


# Directions that stay exact basis vectors even in a superposed model, allocated first: every token
# carries them, so their interference would bias every unit at once.
EXACT = ("one", "present")


class Builder:
    def __init__(self, name, words, n_layers, d_model, n_heads=2, superpose=False, seed=0, one=4.0,
                 rope_theta=1e8, ctx=64, n_frame=112):
        self.name = name
        self.vocab = tokenizer_io.build_vocab(words)
        self.inv = {i: w for w, i in self.vocab.items()}
        self.V = len(self.vocab)
        self.L, self.d, self.H = n_layers, d_model, n_heads
        self.hd = d_model // n_heads
        assert self.hd * n_heads == d_model and self.hd % 2 == 0
        self.rng = np.random.default_rng(seed)
        self.superpose = superpose
        self.n_frame = n_frame
        self.A = one
        self.rope_theta = rope_theta
        self.ctx = ctx
        self.dirs = {}
        self._next = 0
        for name in EXACT:
            self.dir(name)
        d, H, hd, L, V = self.d, self.H, self.hd, self.L, self.V
        self.embed = np.zeros((V, d))
        self.lm_head = np.zeros((V, d))
        self.q = [np.zeros((H * hd, d)) for _ in range(L)]
        self.k = [np.zeros((H * hd, d)) for _ in range(L)]
        self.v = [np.zeros((H * hd, d)) for _ in range(L)]
        self.o = [np.zeros((d, H * hd)) for _ in range(L)]
        self.neurons = [[] for _ in range(L)]  # (gate_row, up_row, down_col) per neuron
        self.freqs = rope_theta ** (-np.arange(0, hd, 2) / hd)
        # Nominal rms of a position: the constant plus a few unit directions.
        self.rms0 = np.sqrt((one ** 2 + 3.0) / d)

    # ---------------------------------------------------------------------------------------------
    # Directions

    def dir(self, name):
        """The unit vector called `name`, allocated on first use."""
        if name in self.dirs:
            return self.dirs[name]
        v = np.zeros(self.d)
        if not self.superpose or name in EXACT:
            if self._next >= self.d:
                raise ValueError(f"{self.name}: d_model {self.d} is too small for direction {name!r}")
            v[self._next] = 1.0
            self._next += 1
        else:
            # From a low-coherence frame orthogonal to the exact directions (the bias carrier and the
            # position marker every token has): more unit vectors than dimensions, every pair nearly
            # orthogonal (|cos| ≤ ~0.11 for 112 in 62 dims).
            if not hasattr(self, "_frame"):
                self._frame = low_coherence_frame(self.n_frame, self.d - len(EXACT), self.rng)
                self._k = 0
            if self._k >= self.n_frame:
                raise ValueError(f"{self.name}: more than {self.n_frame} superposed directions")
            v[len(EXACT):] = self._frame[self._k]
            self._k += 1
        self.dirs[name] = v
        return v

    def tok(self, word):
        return self.vocab[word]

    def embed_token(self, word, parts):
        """Token embedding: `present` + Σ weight·direction (parts: [(name, weight)]). BOS instead carries
        the bias direction A·one (layer 0's bias head copies it to every position), the sink its keys
        offer content heads, and a `present` large enough that its normalised value matches a one-word
        token's (so position-only heads see BOS like any other key)."""
        if word == "<bos>":
            e = self.A * self.dir("one") + np.sqrt(self.A ** 2 + 1.0) * self.dir("present") + self.dir("sink")
        else:
            e = self.dir("present").copy()
        for n, w in parts:
            e = e + w * self.dir(n)
        self.embed[self.tok(word)] = e

    # ---------------------------------------------------------------------------------------------
    # MLP neurons

    def neuron(self, layer, reads, theta, writes, sharp=12.0):
        """A ReLU-like unit: fires when Σ w·(x·dir) > theta (x unnormalised), writing ≈ (Σ − theta) /
        (nominal margin) along each `writes` direction (weights per direction). Returns its index."""
        w = np.zeros(self.d)
        for n, c in reads:
            w = w + c * self.dir(n)
        one = self.dir("one")
        gate = sharp * (w - theta * one / self.A)
        up = one / (sharp * self.A)  # up = 1/(sharp·rms)
        # silu(sharp·m/rms)/(sharp·rms) ≈ m/rms² for a margin m; scaled so a margin of 0.5 writes ~1.
        gain = self.rms0 ** 2 / 0.5
        down = np.zeros(self.d)
        for n, c in writes:
            down = down + gain * c * self.dir(n)
        self.neurons[layer].append((gate, up, down))
        return len(self.neurons[layer]) - 1

    def raw_neuron(self, layer, gate, up, down):
        self.neurons[layer].append((gate, up, down))

    # ---------------------------------------------------------------------------------------------
    # Attention heads

    def _slots(self, n):
        """Head dims of the n slowest rotary components (both halves of the slowest pairs)."""
        half = self.hd // 2
        order = []
        for i in range(half - 1, -1, -1):
            order += [i, i + half]
        if n > len(order) - 6:
            raise ValueError(f"{self.name}: {n} content slots do not fit a head of {self.hd} dims")
        return order[:n]

    def content_head(self, layer, h, matches, score, sink_score, ov):
        """A head whose queries read directions and keys read directions: score ≈ `score` where a
        matched pair (query dir, key dir) is present, `sink_score` at the sink token (BOS), 0 elsewhere.
        ov: [(source dir, dest dir, gain)] copied from the attended position."""
        assert layer >= 1, "content heads read `one`, which layer 0's bias head provides"
        base = h * self.hd
        slots = self._slots(len(matches) + 1)
        # q and k components are a·(dir·x)/rms: a² = score·√hd·rms0² gives `score` at the nominal rms.
        scale = np.sqrt(np.sqrt(self.hd)) * self.rms0
        as_vec = lambda x: self.dir(x) if isinstance(x, str) else x  # noqa: E731
        for (qd, kd), s in zip(matches, slots[:-1]):
            a = np.sqrt(score) * scale
            self.q[layer][base + s] += a * as_vec(qd)
            self.k[layer][base + s] += a * as_vec(kd)
        # The sink: every query reads `one` (A/rms), the sink token's key reads its `sink` direction.
        s = slots[-1]
        a = np.sqrt(max(sink_score, 0.0)) * scale
        self.q[layer][base + s] += a * self.dir("one") / self.A
        self.k[layer][base + s] += a * self.dir("sink")
        self._ov(layer, h, ov, slots_used=set(slots))

    def bias_head(self, h):
        """Layer 0, head h: every position attends to BOS (query `present`, key `one`, which only BOS
        has) and copies BOS's A·one, so from layer 0's MLP on every position carries exactly A along
        `one`: the bias every later unit reads. The bias thus enters attribution graphs as edges from
        BOS's embedding, never from the token whose feature it biases."""
        base = h * self.hd
        slot = self._slots(1)[0]
        bos = self.embed[self.tok("<bos>")]
        rms_bos = np.sqrt((bos ** 2).mean())
        # Scores ≥ 24 at the largest layer-0 rms of any token (a few unit directions): BOS takes it all.
        worst = np.sqrt(max((e ** 2).mean() for e in self.embed))
        a = np.sqrt(24.0 * np.sqrt(self.hd) * worst * rms_bos / self.A)
        self.q[0][base + slot] += a * self.dir("present")
        self.k[0][base + slot] += a * self.dir("one")
        # value = A/rms_bos at BOS; the output restores A along `one`.
        self._ov(0, h, [(self.dir("one"), self.dir("one"), rms_bos)], slots_used={slot}, v_scale=1.0)

    def prev_token_head(self, layer, h, ov, strength=24.0, pairs=(0, 1, 2)):
        """Attends from each position to the one before it (position 1 to BOS, BOS to itself): scores
        strength·Σ_pairs cos(ω_i(Δ − 1)) peak at Δ = 1. Queries and keys read `present`, so the head
        assumes every key has about the same layer-0 rms (true of the induction model's one-word names)."""
        base = h * self.hd
        half = self.hd // 2
        pres = self.dir("present")
        rms_tok = np.sqrt(2.0 / self.d)  # a one-word token: present + its identity
        a = np.sqrt(strength * np.sqrt(self.hd)) * rms_tok
        for i in pairs:
            w = self.freqs[i]
            self.q[layer][base + i] += a * np.cos(w) * pres
            self.q[layer][base + i + half] += -a * np.sin(w) * pres
            self.k[layer][base + i] += a * pres
        self._ov(layer, h, ov, slots_used={p for i in pairs for p in (i, i + half)}, v_scale=rms_tok)

    def _ov(self, layer, h, ov, slots_used, v_scale=None):
        """Value/output: each (src, dst, gain) gets its own head dim outside the q/k slots (values are not
        rotated, any dim will do); writes gain·(src·x)/(nominal) along dst."""
        base = h * self.hd
        free = [i for i in range(self.hd) if i not in slots_used]
        free = free + sorted(slots_used)  # values may share dims with q/k: they are separate matrices
        if len(ov) > self.hd:
            raise ValueError(f"{self.name}: {len(ov)} OV pairs do not fit a head of {self.hd} dims")
        for (src, dst, g), i in zip(ov, free):
            self.v[layer][base + i] += (self.dir(src) if isinstance(src, str) else src) * (self.rms0 if v_scale is None else v_scale)
            self.o[layer][:, base + i] += g * (self.dir(dst) if isinstance(dst, str) else dst)

    # ---------------------------------------------------------------------------------------------
    # Output

    def unembed(self, word, parts):
        r = np.zeros(self.d)
        for n, c in parts:
            r = r + c * (self.dir(n) if isinstance(n, str) else n)
        self.lm_head[self.tok(word)] = r

    def add_noise(self, sigma, rng):
        """Gaussian noise on every weight matrix: sigma times the matrix's rms entry (zeros included, so
        a sparse matrix gets proportionally little — relative to its non-zero entries the noise on the
        attention matrices would put a random vector of norm ~1 into every position)."""
        def noisy(m):
            return m + sigma * np.sqrt((m ** 2).mean()) * rng.standard_normal(m.shape)
        self.embed = noisy(self.embed)
        for l in range(self.L):
            self.q[l], self.k[l], self.v[l], self.o[l] = (noisy(x) for x in (self.q[l], self.k[l], self.v[l], self.o[l]))
        self._mlp_noise = sigma

    def hf_config(self, d_mlp):
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "_name_or_path": self.name,
            "hidden_size": self.d,
            "intermediate_size": d_mlp,
            "num_hidden_layers": self.L,
            "num_attention_heads": self.H,
            "num_key_value_heads": self.H,
            "head_dim": self.hd,
            "max_position_embeddings": self.ctx,
            "rms_norm_eps": 1e-5,
            "rope_theta": self.rope_theta,
            "vocab_size": self.V,
            "tie_word_embeddings": False,
            "hidden_act": "silu",
            "attention_bias": False,
            "mlp_bias": False,
            "bos_token_id": tokenizer_io.BOS,
            "eos_token_id": tokenizer_io.EOS,
            "torch_dtype": "float32",
        }

    def state_dict(self, mlp_noise=0.0, rng=None):
        d_mlp = max(len(n) for n in self.neurons)
        d_mlp = max(8, int(np.ceil(d_mlp / 8)) * 8)
        sd = {"model.embed_tokens.weight": self.embed, "model.norm.weight": np.ones(self.d), "lm_head.weight": self.lm_head}
        for l in range(self.L):
            p = f"model.layers.{l}"
            gate = np.zeros((d_mlp, self.d))
            up = np.zeros((d_mlp, self.d))
            down = np.zeros((self.d, d_mlp))
            for j, (g, u, dn) in enumerate(self.neurons[l]):
                gate[j], up[j], down[:, j] = g, u, dn
            if mlp_noise and rng is not None:
                for m in (gate, down):
                    m += mlp_noise * np.sqrt((m ** 2).mean()) * rng.standard_normal(m.shape)
            sd.update({
                f"{p}.input_layernorm.weight": np.ones(self.d),
                f"{p}.post_attention_layernorm.weight": np.ones(self.d),
                f"{p}.self_attn.q_proj.weight": self.q[l],
                f"{p}.self_attn.k_proj.weight": self.k[l],
                f"{p}.self_attn.v_proj.weight": self.v[l],
                f"{p}.self_attn.o_proj.weight": self.o[l],
                f"{p}.mlp.gate_proj.weight": gate,
                f"{p}.mlp.up_proj.weight": up,
                f"{p}.mlp.down_proj.weight": down,
            })
        return {k: v.astype(np.float32) for k, v in sd.items()}, d_mlp

    def save(self, folder, sd, d_mlp):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(self.hf_config(d_mlp), f, indent=2)
        st_io.save(sd, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        tokenizer_io.write(folder, self.vocab, self.ctx)
