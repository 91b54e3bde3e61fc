"""Text for clips: captions from a grammar with synonyms, held-out paraphrases, QA and moment queries.

Every word choice has two disjoint vocabularies. ``train`` synonyms and templates make the captions of
every split; ``heldout`` synonyms and templates (never used in any ``captions`` field) make the
``captions_heldout`` field, to measure generalisation to unseen wording.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import ClipSpec, ObjectTrack, clip_rng
from .world import CLASSES, PARTNER, size_name

Vocab = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]

COLOUR_WORDS: Vocab = {
    "red": (("red", "crimson", "scarlet"), ("ruby", "cherry")),
    "orange": (("orange", "tangerine", "amber"), ("apricot", "pumpkin-coloured")),
    "yellow": (("yellow", "golden", "lemon"), ("canary", "mustard")),
    "green": (("green", "emerald", "leafy green"), ("jade", "grass-coloured")),
    "cyan": (("cyan", "turquoise", "aqua"), ("teal", "sky-tinted")),
    "blue": (("blue", "azure", "cobalt"), ("sapphire", "navy")),
    "purple": (("purple", "violet", "lilac"), ("lavender", "amethyst")),
    "pink": (("pink", "rose", "salmon"), ("blush", "flamingo")),
    "white": (("white", "snowy", "ivory"), ("pearl", "chalky")),
    "magenta": (("magenta", "fuchsia", "hot pink"), ("cerise", "orchid")),
}

SHAPE_WORDS: Vocab = {
    "circle": (("circle", "disc", "round dot"), ("orb", "round token")),
    "square": (("square", "box", "block"), ("tile", "four-sided plate")),
    "triangle": (("triangle", "three-sided shape", "wedge"), ("trigon", "three-cornered piece")),
    "pentagon": (("pentagon", "five-sided shape"), ("five-cornered polygon", "home-plate figure")),
    "hexagon": (("hexagon", "six-sided shape", "honeycomb cell"), ("six-cornered polygon", "hex nut shape")),
    "star": (("star", "five-pointed star", "starburst"), ("pentagram", "spiky emblem")),
    "cross": (("cross", "plus sign", "plus shape"), ("cruciform mark", "swiss-flag emblem")),
    "diamond": (("diamond", "rhombus", "lozenge"), ("rhomboid", "kite figure")),
    "ellipse": (("ellipse", "oval", "egg shape"), ("ovoid", "elongated blob")),
    "rectangle": (("rectangle", "bar", "brick"), ("plank", "slab")),
}

TEXTURE_WORDS: Vocab = {
    "solid": (("",), ("",)),
    "striped": (("striped", "stripy"), ("banded", "pinstriped")),
    "checkered": (("checkered", "chequered"), ("tartan", "grid-patterned")),
    "dotted": (("dotted", "spotted"), ("polka-dot", "speckled")),
}

SIZE_WORDS: Vocab = {
    "small": (("small", "little", "tiny"), ("petite", "miniature")),
    "medium": (("medium-sized", "mid-sized"), ("moderately sized", "average-sized")),
    "large": (("large", "big", "huge"), ("hefty", "oversized")),
}

BACKGROUND_WORDS: Vocab = {
    "plain": (("on a plain background", "against a uniform backdrop"), ("in front of an empty wall",)),
    "gradient": (("on a gradient background", "against a shaded backdrop"), ("over a two-tone wash",)),
    "noise": (("on a noisy background", "against a grainy backdrop"), ("over a mottled surface",)),
    "moving_texture": (
        ("over a moving pattern", "against a drifting texture"),
        ("on a flowing wallpaper",),
    ),
}

#: Verb phrases; ``{c}`` is a colour word, ``{d}`` a direction phrase.
ACTION_WORDS: Vocab = {
    "moves_left": (
        ("moves to the left", "slides leftward", "travels left", "goes to the left", "drifts left"),
        ("heads toward the left edge", "shifts westward"),
    ),
    "moves_right": (
        ("moves to the right", "slides rightward", "travels right", "goes to the right", "drifts right"),
        ("heads toward the right edge", "shifts eastward"),
    ),
    "moves_up": (
        ("moves up", "slides upward", "rises", "travels upward", "goes up"),
        ("ascends", "climbs toward the top"),
    ),
    "moves_down": (
        ("moves down", "slides downward", "falls", "travels downward", "goes down"),
        ("descends", "sinks toward the bottom"),
    ),
    "grows": (("grows", "gets bigger", "expands", "increases in size"), ("swells", "balloons outward")),
    "shrinks": (
        ("shrinks", "gets smaller", "contracts", "decreases in size"),
        ("dwindles", "becomes tinier"),
    ),
    "rotates_clockwise": (
        ("rotates clockwise", "spins clockwise", "turns clockwise"),
        ("whirls in the clock-hand direction", "pivots clockwise"),
    ),
    "rotates_counterclockwise": (
        ("rotates counterclockwise", "spins anticlockwise", "turns counter-clockwise"),
        ("whirls against the clock-hand direction", "pivots anticlockwise"),
    ),
    "fades_in": (
        ("fades in", "appears gradually", "slowly becomes visible", "materialises"),
        ("emerges out of nothing", "comes into view"),
    ),
    "fades_out": (
        ("fades out", "disappears gradually", "slowly vanishes", "fades away"),
        ("dissolves into the background", "goes out of view"),
    ),
    "speeds_up": (
        ("speeds up", "accelerates", "moves faster and faster", "gains speed"),
        ("picks up pace", "goes quicker over time"),
    ),
    "slows_down": (
        ("slows down", "decelerates", "moves slower and slower", "loses speed"),
        ("gradually comes to a halt", "eases off"),
    ),
    "bounces": (
        ("bounces off the {w} wall", "bounces", "hits the {w} edge and bounces back"),
        ("ricochets off the {w} border", "rebounds"),
    ),
    "stays_still": (
        ("stays still", "does not move", "remains motionless", "sits in place"),
        ("holds its position", "stays put"),
    ),
    "changes_colour": (
        ("turns {c}", "changes colour to {c}", "becomes {c}"),
        ("switches its hue to {c}", "takes on a {c} tint"),
    ),
}

TWO_STEP_JOIN: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("{a}, then {b}", "{a} and then {b}", "first {a}, then {b}"),
    ("{a}; afterwards it {b}", "{a} before it {b}"),
)

#: Sentence templates; ``{o}`` is the object phrase with its article, ``{v}`` the verb phrase.
TEMPLATES: tuple[tuple[str, ...], tuple[str, ...]] = (
    ("{o} {v}", "{o} {v} {s}", "there is {o} that {v}", "in the video, {o} {v}", "{o} {v} in this clip"),
    ("we can see {o} as it {v}", "this footage shows how {o} {v}", "watch closely: {o} {v}"),
)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def _vocab_side(heldout: bool) -> int:
    return 1 if heldout else 0


def object_phrase(
    rng: np.random.Generator,
    obj: ObjectTrack,
    frame: int,
    short_side: int,
    heldout: bool = False,
    allow_size: bool = True,
) -> str:
    """Noun phrase such as ``"small striped crimson disc"`` (no article)."""
    side = _vocab_side(heldout)
    words = []
    if allow_size and rng.random() < 0.4:
        words.append(_pick(rng, SIZE_WORDS[size_name(float(obj.r[frame]), short_side)][side]))
    if obj.texture != "solid" and rng.random() < 0.5:
        words.append(_pick(rng, TEXTURE_WORDS[obj.texture][side]))
    words.append(_pick(rng, COLOUR_WORDS[obj.colour[frame]][side]))
    words.append(_pick(rng, SHAPE_WORDS[obj.shape][side]))
    return " ".join(words)


def verb_phrase(rng: np.random.Generator, event: dict[str, Any], heldout: bool = False) -> str:
    """Verb phrase describing one event (two-step events are joined with "then")."""
    side = _vocab_side(heldout)
    action = event["action"]
    if "steps" in event:
        a, b = (verb_phrase(rng, step, heldout) for step in event["steps"])
        return _pick(rng, TWO_STEP_JOIN[side]).format(a=a, b=b)
    template = _pick(rng, ACTION_WORDS[action][side])
    colour = event.get("to_colour")
    walls = event.get("walls") or ["side"]
    return template.format(
        c=_pick(rng, COLOUR_WORDS[colour][side]) if colour else "",
        w=walls[0],
    )


def _canonical_verb(event: dict[str, Any]) -> str:
    """The first train phrasing of an event (used for QA options)."""
    if "steps" in event:
        a, b = (_canonical_verb(s) for s in event["steps"])
        return f"{a}, then {b}"
    template = ACTION_WORDS[event["action"]][0][0]
    walls = event.get("walls") or ["side"]
    return template.format(c=event.get("to_colour", ""), w=walls[0])


def _sentence(rng: np.random.Generator, spec: ClipSpec, event: dict[str, Any], heldout: bool) -> str:
    side = _vocab_side(heldout)
    f0 = int(event["start_frame"])
    size_changes = event["action"] in ("grows", "shrinks")
    obj = object_phrase(rng, spec.target, f0, min(spec.height, spec.width), heldout, not size_changes)
    template = _pick(rng, TEMPLATES[side])
    scene = _pick(rng, BACKGROUND_WORDS[spec.background.kind][side])
    return template.format(o=_article(obj), v=verb_phrase(rng, event, heldout), s=scene)


def captions(spec: ClipSpec, count: int, heldout: bool = False) -> list[str]:
    """Up to ``count`` distinct captions of a short clip (train or held-out vocabulary)."""
    rng = clip_rng(spec.seed, f"{spec.split}/captions{'/heldout' if heldout else ''}", spec.index)
    out: list[str] = []
    for _ in range(count * 8):
        s = _sentence(rng, spec, spec.events[0], heldout)
        if s not in out:
            out.append(s)
        if len(out) == count:
            break
    return out


def event_caption(spec: ClipSpec, event: dict[str, Any], k: int, heldout: bool = False) -> str:
    """One caption for event ``k`` of a (long) video."""
    rng = clip_rng(spec.seed, f"{spec.split}/event{k}{'/heldout' if heldout else ''}", spec.index)
    return _sentence(rng, spec, event, heldout)


def moment_queries(spec: ClipSpec) -> list[dict[str, Any]]:
    """Natural-language queries, each with the [start, end] seconds of the moment it describes."""
    rng = clip_rng(spec.seed, f"{spec.split}/moments", spec.index)
    side_words = COLOUR_WORDS
    out = []
    for ev in spec.events:
        pieces = ev.get("steps", [ev])
        for step in pieces:
            f0 = int(step["start_frame"])
            colour = spec.target.colour[f0]
            obj = f"the {_pick(rng, side_words[colour][0])} {_pick(rng, SHAPE_WORDS[spec.target.shape][0])}"
            verb = verb_phrase(rng, step)
            query = _pick(rng, ("the moment when {o} {v}", "when does {o} {v}?", "{o} {v}")).format(
                o=obj, v=verb
            )
            out.append(
                {
                    "query": query,
                    "start": round(f0 / spec.fps, 4),
                    "end": round(int(step["end_frame"]) / spec.fps, 4),
                    "action": step["action"],
                }
            )
    return out


def _options(
    rng: np.random.Generator, correct: str, pool: list[str], n: int = 4, must: list[str] | None = None
) -> tuple[list[str], int]:
    chosen = [correct]
    for m in must or []:
        if m not in chosen and len(chosen) < n:
            chosen.append(m)
    rest = [p for p in pool if p not in chosen]
    order = rng.permutation(len(rest))
    for j in order[: max(0, n - len(chosen))]:
        chosen.append(rest[int(j)])
    perm = rng.permutation(len(chosen))
    options = [chosen[int(j)] for j in perm]
    return options, options.index(correct)


def qa_pairs(spec: ClipSpec) -> list[dict[str, Any]]:
    """Multiple-choice questions about a short clip: ``question``, ``options``, ``answer`` index."""
    rng = clip_rng(spec.seed, f"{spec.split}/qa", spec.index)
    ev = spec.events[0]
    t = spec.target
    shape_word = SHAPE_WORDS[t.shape][0][0]
    first_colour = t.colour[0]
    qa: list[dict[str, Any]] = []

    def add(kind: str, question: str, correct: str, pool: list[str], must: list[str] | None = None) -> None:
        options, answer = _options(rng, correct, pool, must=must)
        qa.append({"type": kind, "question": question, "options": options, "answer": answer})

    # What happens: the temporal partner is always among the options (a hard negative).
    partner = PARTNER.get(ev["action"])
    other_events = []
    for name in CLASSES:
        if name == ev["action"]:
            continue
        fake = {"action": name, "to_colour": ev.get("to_colour") or "blue"}
        if "steps" in ev and name in PARTNER and "then" in name:
            fake["steps"] = list(reversed(ev["steps"]))
        elif "then" in name:
            fake["steps"] = [
                {"action": "moves_up"},
                {"action": "changes_colour", "to_colour": fake["to_colour"]},
            ]
            if name.startswith("changes"):
                fake["steps"].reverse()
        other_events.append((name, _canonical_verb(fake)))
    correct = _canonical_verb(ev)
    must = [v for n, v in other_events if n == partner]
    add(
        "action",
        f"What does the {first_colour} {shape_word} do?",
        correct,
        [v for _, v in other_events],
        must,
    )

    colours = sorted(set(COLOUR_WORDS))
    add("colour", f"What colour is the {shape_word} at the start?", first_colour, colours)
    shapes = sorted(set(SHAPE_WORDS))
    add("shape", f"What shape is the {first_colour} object?", t.shape, shapes)
    if ev.get("to_colour"):
        add("colour_change", f"What colour does the {shape_word} turn into?", ev["to_colour"], colours)
    if "steps" in ev:
        steps = [_canonical_verb(s) for s in ev["steps"]]
        add("order", f"What does the {shape_word} do first?", steps[0], steps)
    if ev.get("direction") and "then" not in ev["action"]:
        add(
            "direction",
            f"In which direction does the {shape_word} move?",
            ev["direction"],
            ["left", "right", "up", "down"],
        )
    n_objects = len(spec.objects)
    add("count", "How many objects are in the video?", str(n_objects), [str(i) for i in range(1, 8)])
    if spec.with_audio:
        clicks = len(ev.get("bounce_frames", []))
        add("audio", "How many clicks can be heard?", str(clicks), ["0", "1", "2", "3"])
    return qa
