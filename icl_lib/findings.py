"""The book's findings beyond the paper (chapter 9) as sentences, generated from the numbers.

Each function turns one table of chapter 9 into plain English for the chapter, the introduction and
the summary: which d, which n, what the effect was, with the threshold that decided it. Nothing
here decides anything; the labels come from `icl_lib.beyond` and `icl_lib.verdicts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from icl_lib.verdicts import UNDECIDED

__all__ = ["listed", "lengths_text", "headline", "eta_sentence", "mass_sentence", "dynamics_sentence",
           "landscape_sentence", "two_class_sentence"]

_EFFECT = {  # what a label of `icl_lib.beyond.effect_label` says of Eq. 1 against another step
    "matters": "lowers the held-out loss by more than {gain}",
    "hurts": "raises the held-out loss by more than {gain}",
    "does not matter": "changes the held-out loss by less than {gain}",
    "cannot tell": "cannot be told apart from {other}",
}


def listed(values: Sequence[object]) -> str:
    """"2", "2 and 3", "2, 3 and 5"."""
    items = [str(v) for v in values]
    return "" if not items else items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def lengths_text(chosen: Sequence[int], lengths: Sequence[int]) -> str:
    """The context lengths `chosen` among all `lengths` swept, e.g. "every n", "n ≥ 50", "n ≤ 20" or
    "n = 10 and 200"."""
    chosen, lengths = sorted(chosen), sorted(lengths)
    if chosen == lengths:
        return "every n"
    if len(chosen) > 1 and chosen == lengths[lengths.index(chosen[0]):][:len(chosen)]:
        if chosen[-1] == lengths[-1]:
            return f"n ≥ {chosen[0]}"
        if chosen[0] == lengths[0]:
            return f"n ≤ {chosen[-1]}"
    return f"n = {listed(chosen)}"


def eta_sentence(labels: Mapping[tuple[int, int, str], str], dims: Sequence[int], lengths: Sequence[int], *,
                 other: str = "Eq. 3", min_gain: float) -> str:
    """What the adaptive rate does against `other` over the context lengths, one clause per d (d's
    that read alike share one): "at d = 5 and 10, η(X) changes the held-out loss by less than 1% of
    Eq. 1's loss at every n"."""
    gain = f"{min_gain:.0%} of Eq. 1's loss"
    by_d: dict[str, list[int]] = {}
    for d in dims:
        parts = []
        for label, words in _EFFECT.items():
            ns = [nn for nn in lengths if labels[(d, nn, other)] == label]
            if ns:
                parts.append(f"{words.format(gain=gain, other=other)} at {lengths_text(ns, lengths)}")
        by_d.setdefault(", ".join(parts), []).append(d)
    clauses = [f"at d = {listed(ds)}, η(X) {text}" for text, ds in by_d.items()]
    return f"Against {other} (a fixed rate): " + "; ".join(clauses) + "."


def headline(labels: Mapping[tuple[int, int, str], str], dims: Sequence[int], *, n: int, min_gain: float) -> str:
    """The chapter's main finding at context length n: where η(X) helps against the fixed rate of
    Eq. 3, and where Eq. 1, Eq. 3 and Eq. 2 give the same loss (within min_gain of it)."""
    helps = [d for d in dims if labels[(d, n, "Eq. 3")] == "matters"]
    alike = [d for d in dims if labels[(d, n, "Eq. 3")] == labels[(d, n, "Eq. 2")] == "does not matter"]
    said = []
    if helps:
        said.append(f"the context-adaptive rate η(X) lowers the loss at d = {listed(helps)}")
    if alike:
        said.append(f"at d = {listed(alike)} the three steps (Eq. 1, Eq. 3, Eq. 2) give the same held-out "
                    f"loss, within {min_gain:.0%}")
    rest = [d for d in dims if d not in helps and d not in alike]
    if rest:
        said.append(f"at d = {listed(rest)} neither holds")
    return f"At n = {n}, " + "; ".join(said) + "."


def mass_sentence(low_end: Sequence[int], high_end: Sequence[int], dims: Sequence[int], *, n: int) -> str:
    """Where the gain over Eq. 3 concentrates in the neighbour mass m(X): the d's at which the
    lowest- or highest-mass fifth of the contexts gains more than the middle fifth (95% intervals
    apart)."""
    if not low_end and not high_end:
        return (f"At n = {n}, the gain of η(X) over Eq. 3 is no larger for the contexts with the fewest or the "
                f"most points near the query than for the middle fifth, at any d tried ({listed(dims)}).")
    said = []
    if low_end:
        said.append(f"for the fifth of contexts with the fewest points near the query at d = {listed(low_end)}")
    if high_end:
        said.append(f"for the fifth with the most at d = {listed(high_end)}")
    return f"At n = {n}, the gain of η(X) over Eq. 3 is larger than in the middle fifth " + " and ".join(said) + "."


def dynamics_sentence(moves: Mapping[str, tuple[float, float, float, float]]) -> str:
    """How chapter 6's d = 10 models move over the second half of training: (c_eta before, after,
    the linear-step rate before, after) per model."""
    if not moves:
        return "No d = 10 model left the plateau at this profile."
    grew = listed([f"×{b / a:.2f} ({label})" for label, (a, b, _, _) in moves.items()])
    rate = listed([f"×{r1 / r0:.2f}" for _, (_, _, r0, r1) in moves.items()])
    return (f"Over the second half of training the d = 10 models' c_η changed {grew}, while the rate of the "
            f"linear GD step with the same c_η c_σ changed {rate}.")


def landscape_sentence(landscape: Mapping[int, str], *, sets: int) -> str:
    """The landscape finding per d (`icl_lib.verdicts.landscape_finding` labels), grouped: a shape is
    named only where all `sets` independent context sets agree on it."""
    by_label: dict[str, list[int]] = {}
    for d, label in landscape.items():
        by_label.setdefault(label, []).append(d)
    shapes = [f"{label} at d = {listed(ds)}" for label, ds in by_label.items() if label != UNDECIDED]
    text = f"Eq. 1's loss over (c_η, c_σ) has {listed(shapes)}, on each of {sets} independent context sets" if shapes else ""
    if UNDECIDED in by_label:
        undecided = f"at d = {listed(by_label[UNDECIDED])} the {sets} sets disagree or their intervals are too wide to say"
        text = f"{text}; {undecided}" if text else undecided[0].upper() + undecided[1:]
    return text + "."


def two_class_sentence(mirror_medians: Mapping[str, str], neither: Sequence[tuple[float, float]],
                       effects: Mapping[str, str], *, C: int) -> str:
    """Chapter 9's two-class finding: how alike selection and elimination are at C = 2 (the median
    preds diff between Eq. 1 and its mirror image, beside C), where the "neither" seeds put their
    weight and how well they do (their (loss, off-Eq. 1 share) pairs), and what each change does to
    their number."""
    text = ("At C = 2 selection and elimination are nearly the same function: Eq. 1 and its mirror image "
            f"differ by a median preds diff of {mirror_medians['C = 2']} (at C = {C}: "
            f"{mirror_medians[f'C = {C}']}).")
    if neither:
        losses, shares = [loss for loss, _ in neither], [share for _, share in neither]
        text += (f" The {len(neither)} seeds classified as neither, over all runs, put a median "
                 f"{np.median(shares):.0%} of their weight in the two blocks Eq. 1 does not use (keys scored by "
                 f"their label, values read from positions), at a median loss of {np.median(losses):.3f} "
                 f"(chance {math.log(2):.3f}).")
    if effects:
        text += " Against chapter 7's budget: " + "; ".join(f"{what}: {e}" for what, e in effects.items()) + "."
    return text
