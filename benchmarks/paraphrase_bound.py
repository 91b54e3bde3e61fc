"""How much the text tower knows of the synthetic world's held-out words: a bound on paraphrase retrieval.

Held-out paraphrases (``captions_heldout``) use colour, shape and action words that no training caption
contains ("sapphire", "trigon", "shifts westward"). A model trained on the template captions can only
map them through what its text tower already knows. For each attribute this script swaps one word at a
time into an otherwise fixed training sentence ("a {colour} square moves to the left", "a red {shape}
moves to the left", "a red square {action}") and asks whether the held-out phrasing lands nearest to its
own class, the class prototype being the mean of the class's training phrasings:

* in the text tower's own sentence space (MiniLM's mean-pooled last layer), and
* after a trained model's ``text_proj`` (default: the packaged ``internvideo2-tiny-synth``).

A paraphrase query finds its clips only when colour, shape and action are all understood, so the product
of the three accuracies estimates the best R@1 any vision tower could give paraphrase queries with this
text tower (the held-out templates, sizes and textures only lower it further).

    python benchmarks/paraphrase_bound.py [--model FOLDER]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from internvideo.data.synth.captions import ACTION_WORDS, COLOUR_WORDS, SHAPE_WORDS, Vocab
from internvideo.models import create_model, from_pretrained
from internvideo.models.default import DEFAULT_MODEL

ATTRIBUTES: dict[str, tuple[Vocab, str]] = {
    "colour": (COLOUR_WORDS, "a {} square moves to the left"),
    "shape": (SHAPE_WORDS, "a red {} moves to the left"),
    "action": (ACTION_WORDS, "a red square {}"),
}


@torch.inference_mode()
def features(model, texts: list[str], projected: bool) -> torch.Tensor:
    tok = model.tokenize(texts)
    pooled = model.text_pool(
        model.encode_text_tokens(tok["input_ids"], tok["attention_mask"]), tok["attention_mask"]
    )
    return F.normalize(model.text_proj(pooled) if projected else pooled, dim=-1)


def nearest_class_accuracy(model, vocab: Vocab, sentence: str, projected: bool) -> tuple[float, list[str]]:
    """Share of held-out phrasings nearest to their own class's prototype; and the misses."""
    classes = list(vocab)

    def fill(word: str) -> str:
        return sentence.format(word.format(c="blue", w="left"))

    train = [(k, fill(w)) for k in classes for w in vocab[k][0]]
    held = [(k, w, fill(w)) for k in classes for w in vocab[k][1]]
    tf = features(model, [t for _, t in train], projected)
    owner = torch.tensor([classes.index(k) for k, _ in train])
    protos = F.normalize(torch.zeros(len(classes), tf.shape[1]).index_add_(0, owner, tf), dim=-1)
    pred = (features(model, [t for *_, t in held], projected) @ protos.t()).argmax(1).tolist()
    misses = [f"{w} -> {classes[p]}" for p, (k, w, _) in zip(pred, held) if classes[p] != k]
    return 1.0 - len(misses) / len(held), misses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--model", default=None, help="a save_pretrained folder (default: the packaged default model)"
    )
    args = ap.parse_args()
    model = (
        from_pretrained(args.model) if args.model else create_model(DEFAULT_MODEL, pretrained=True)
    ).eval()
    for projected, space in ((False, "MiniLM sentence space"), (True, "after the model's text_proj")):
        print(f"{space}: held-out phrasing nearest to its own class")
        bound = 1.0
        for name, (vocab, sentence) in ATTRIBUTES.items():
            acc, misses = nearest_class_accuracy(model, vocab, sentence, projected)
            bound *= acc
            print(
                f"  {name:7s} {100 * acc:5.1f} %  misses: {', '.join(misses[:6])}{' ...' if len(misses) > 6 else ''}"
            )
        print(f"  all three (product): {100 * bound:.1f} %")


if __name__ == "__main__":
    main()
