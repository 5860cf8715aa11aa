"""Tests for hf_contrastive.data.sts_b and `load_sentence_pairs`: the embedded STS benchmark and
any sentence-pair set a user scores a CLEAR model on."""

import numpy as np
import pytest

from hf_contrastive.data.loading import load_sentence_pairs
from hf_contrastive.data.sts_b import load_sts_b


@pytest.mark.parametrize(("split", "rows"), [("train", 5749), ("validation", 1500), ("test", 1379)])
def test_the_shipped_splits_have_the_benchmarks_row_counts_and_scores_in_0_to_5(split, rows):
    """Property: every line of each file is a pair (the 9-field lines too), all scored in [0, 5],
    with non-empty sentences; the dev file is the validation split (the wheel's loader mixes them up)."""
    pairs = load_sts_b(split)
    assert len(pairs) == rows and pairs.column_names == ["sentence1", "sentence2", "score"]
    scores = np.asarray(pairs["score"])
    assert scores.min() >= 0 and scores.max() <= 5 and len(np.unique(scores)) > 20
    assert all(s.strip() for s in pairs["sentence1"]) and all(s.strip() for s in pairs["sentence2"])


def test_known_rows_are_read_field_by_field():
    """Property: fields 5-7 are score, sentence1, sentence2 (the first dev pair and the first test
    pair as published)."""
    dev, test = load_sts_b("validation"), load_sts_b("test")
    assert dev[0] == {"sentence1": "A man with a hard hat is dancing.", "sentence2": "A man wearing a hard hat is dancing.", "score": 5.0}
    assert test[0]["sentence1"] == "A girl is styling her hair." and test[0]["score"] == 2.5


def test_an_unknown_split_names_the_three():
    with pytest.raises(ValueError, match=r"\['train', 'validation', 'test'\]"):
        load_sts_b("dev")


def test_a_users_pair_file_with_a_label_column_is_read_as_score(tmp_path):
    """Property: any csv with sentence1, sentence2 and a numeric label is a pair set; the score
    column is renamed, extra columns dropped."""
    path = tmp_path / "pairs.csv"
    path.write_text("id,sentence1,sentence2,label\n1,a cat sat,a cat sat down,4.5\n2,rain today,stocks fell,0\n")
    pairs = load_sentence_pairs(str(path), "train")
    assert pairs.column_names == ["sentence1", "sentence2", "score"] and pairs["score"] == [4.5, 0.0]


def test_a_pair_file_without_the_columns_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("a,b,similarity\nx,y,1\n")
    with pytest.raises(ValueError, match=r"needs the columns sentence1, sentence2 and a score.*\['a', 'b', 'similarity'\]"):
        load_sentence_pairs(str(path), "train")
