"""Word-level tokenizer files in the Hugging Face `tokenizers` JSON format."""

import json

SPECIALS = ["<unk>", "<bos>", "<eos>"]
UNK, BOS, EOS = 0, 1, 2


def build_vocab(words):
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for w in words:
        if w not in vocab:
            vocab[w] = len(vocab)
    return vocab


def tokenizer_json(vocab):
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, s in enumerate(SPECIALS)
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [BOS], "tokens": ["<bos>"]}},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": False},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }


def tokenizer_config(max_len):
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<bos>",
        "eos_token": "<eos>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "model_max_length": max_len,
        "clean_up_tokenization_spaces": False,
    }


def write(folder, vocab, max_len):
    with open(f"{folder}/tokenizer.json", "w") as f:
        json.dump(tokenizer_json(vocab), f, indent=1)
    with open(f"{folder}/tokenizer_config.json", "w") as f:
        json.dump(tokenizer_config(max_len), f, indent=1)


def encode(vocab, text):
    """The same ids the tokenizer.json produces: BOS, then each whitespace-separated word."""
    return [BOS] + [vocab.get(w, UNK) for w in text.split()]
