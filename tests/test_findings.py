"""Chapter 9's findings in words (icl_lib.findings): each sentence from known labels."""

from icl_lib.findings import (
    dynamics_sentence,
    eta_sentence,
    headline,
    landscape_sentence,
    lengths_text,
    listed,
    mass_sentence,
)
from icl_lib.verdicts import INTERIOR, UNDECIDED, VALLEY

LENGTHS = [10, 20, 50, 100, 200, 400]


def test_lists_and_lengths_read_as_english():
    assert listed([2]) == "2" and listed([2, 3]) == "2 and 3" and listed([2, 3, 5]) == "2, 3 and 5"
    assert lengths_text(LENGTHS, LENGTHS) == "every n"
    assert lengths_text([50, 100, 200, 400], LENGTHS) == "n ≥ 50"
    assert lengths_text([10, 20], LENGTHS) == "n ≤ 20"
    assert lengths_text([10, 200], LENGTHS) == "n = 10 and 200"


def labels_from(table):
    return {(d, nn, other): label for (d, other), row in table.items() for nn, label in zip(LENGTHS, row, strict=True)}


def test_the_eta_sentence_groups_dimensions_that_read_alike():
    m, h, z = "matters", "hurts", "does not matter"
    labels = labels_from({(2, "Eq. 3"): [h, h, m, m, m, m], (5, "Eq. 3"): [z] * 6, (10, "Eq. 3"): [z] * 6})
    text = eta_sentence(labels, [2, 5, 10], LENGTHS, min_gain=0.01)
    assert text == ("Against Eq. 3 (a fixed rate): at d = 2, η(X) lowers the held-out loss by more than 1% of Eq. 1's "
                    "loss at n ≥ 50, raises the held-out loss by more than 1% of Eq. 1's loss at n ≤ 20; at d = 5 "
                    "and 10, η(X) changes the held-out loss by less than 1% of Eq. 1's loss at every n.")


def test_the_headline_says_where_the_adaptive_rate_helps_and_where_the_steps_coincide():
    labels = {(2, 100, "Eq. 3"): "matters", (2, 100, "Eq. 2"): "matters",
              (3, 100, "Eq. 3"): "cannot tell", (3, 100, "Eq. 2"): "matters",
              (10, 100, "Eq. 3"): "does not matter", (10, 100, "Eq. 2"): "does not matter"}
    assert headline(labels, [2, 3, 10], n=100, min_gain=0.01) == (
        "At n = 100, the context-adaptive rate η(X) lowers the loss at d = 2; at d = 10 the three steps "
        "(Eq. 1, Eq. 3, Eq. 2) give the same held-out loss, within 1%; at d = 3 neither holds.")


def test_mass_dynamics_and_landscape_sentences():
    assert "no larger for the contexts with the fewest or the most" in mass_sentence([], [], [2, 3], n=100)
    assert mass_sentence([2, 3], [], [2, 3], n=100).endswith("fewest points near the query at d = 2 and 3.")
    assert dynamics_sentence({}) == "No d = 10 model left the plateau at this profile."
    moves = {"lr 0.003": (100.0, 125.0, 2.0, 2.04)}
    assert dynamics_sentence(moves) == ("Over the second half of training the d = 10 models' c_η changed ×1.25 "
                                        "(lr 0.003), while the rate of the linear GD step with the same c_η c_σ "
                                        "changed ×1.02.")
    text = landscape_sentence({2: INTERIOR, 3: INTERIOR, 10: VALLEY}, sets=3)
    assert text == ("Eq. 1's loss over (c_η, c_σ) has an interior optimum at d = 2 and 3 and a valley that falls to "
                    "the linear step at d = 10, on each of 3 independent context sets.")
    assert landscape_sentence({5: UNDECIDED}, sets=3) == (
        "At d = 5 the 3 sets disagree or their intervals are too wide to say.")
