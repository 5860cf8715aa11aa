"""CLEAR's sentence augmentations (Wu et al. 2020, "CLEAR: Contrastive Learning for Sentence
Representation", arXiv 2012.15466).

CLEAR pre-trains a Transformer encoder with masked language modelling plus a contrastive loss:
every sentence of a minibatch is augmented twice, the two augmented sentences are a positive
pair and the other sentences of the batch are negatives. The paper's four sentence-level
augmentations are here, each a small class with its ratio and its own seedable random generator:

===========================  =====================================================================
class                        what a view looks like (``Tok1 ... Tok6`` the original words)
===========================  =====================================================================
`WordDeletion`               ``Tok1 [DEL] Tok3 [DEL] [DEL] Tok6``: each deleted word is one ``[DEL]``
`SpanDeletion`               ``Tok1 [DEL] Tok5 Tok6``: each deleted span of words is one ``[DEL]``
`Reordering`                 ``Tok4 Tok5 Tok3 Tok1 Tok2 Tok6``: pairs of spans swap places
`SynonymSubstitution`        ``Tok1 Tok2' Tok3 Tok4 Tok5' Tok6``: words replaced by WordNet synonyms
===========================  =====================================================================

`CLEARAugmenter` draws two of them once per minibatch, one for each view, and returns the two
lists of views; `hf_contrastive.data.text_collator.CLEARDataCollator` tokenises them.

Words. A sentence is split into words by `split_words`: runs of letters/digits (with inner
apostrophes and hyphens, so ``don't`` and ``well-known`` are one word), every other non-space
character (punctuation) as a word of its own, and bracketed special tokens such as ``[DEL]`` kept
whole. Splitting punctuation off (as BERT's basic tokenizer does anyway) lets ``dog,`` be looked
up in WordNet as ``dog``. A view is its words joined by single spaces; a BERT-style tokenizer
(which splits punctuation again) sees the same tokens it would see for the original spacing.
Letters are Unicode-aware: ``Zürich café 東京`` is three words.

Ratios. Every ratio is the fraction of a sentence's words that an augmentation touches. The count
is ``ratio * n_words`` with stochastic rounding (``floor(ratio * n + U[0, 1))``), so the ratio holds
on average even for short sentences (nlpaug rounds up instead, which over-augments short ones).
The defaults are 0.3 for all four. They are not copied from the paper (its ablation of the ratios
was not available offline when this was written; set the ratios explicitly to reproduce a given
table of it). The reasoning: 0.3 is nlpaug's default ``aug_p`` (so the benchmark's plain-nlpaug
chain does the same amount of work); EDA (Wei & Zou 2019) changes about 10% of the words for
supervised augmentation, and contrastive learning profits from stronger augmentation than
supervised training does (SimCLR, Chen et al. 2020), hence a larger fraction; at 0.3 a view
still keeps 70% of the sentence, and two views of one sentence leave about half of its words
(0.7 x 0.7) untouched in both, so the positive pair stays recognisable but is never trivial.

Guarantees, for every augmentation and any input string:

* never an empty view: an empty or whitespace-only sentence gives ``"[DEL]"`` (all of nothing was
  deleted), and the deletions always keep at least one original word (a one-word sentence is
  returned unchanged by them);
* ``max_words``: a sentence is truncated to its first ``max_words`` words before it is augmented,
  so a view is never longer than the truncated sentence (the deletions and reordering never add
  words; a substitution replaces one word by one word). The collator also tokenises with
  truncation, so this is about not spending time on words that would be cut anyway;
* a seeded generator (``seed`` an int, or a `random.Random`) gives the same views every run.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

DEL_TOKEN = "[DEL]"
"""The special token that stands where words were deleted (the tokenizer must know it as special)."""

AUGMENTATIONS = ("word_deletion", "span_deletion", "reordering", "synonym_substitution")
"""Names of CLEAR's four augmentations, as `CLEARAugmenter` takes them."""

DEFAULT_RATIOS = {name: 0.3 for name in AUGMENTATIONS}
"""Default fraction of words each augmentation touches (see the module docstring for why 0.3)."""

PAPER_PAIRS = {
    "sentiment": ("word_deletion", "reordering"),
    "paraphrase": ("span_deletion", "synonym_substitution"),
}
"""Pairs the paper found best for some task families (e.g. SST-2 with deletion + reordering)."""

SeedLike = Union[int, random.Random, None]

_WORD_RE = re.compile(r"\[[A-Z]{2,10}\]|\w+(?:['’-]\w+)*|[^\w\s]")


def split_words(text: str, max_words: Optional[int] = None) -> list[str]:
    """Split ``text`` into words: ``\\w+`` runs (inner ``'`` / ``-`` allowed), each punctuation
    character alone, and bracketed special tokens (``[DEL]``, ``[MASK]``) whole. Keep the first
    ``max_words`` words when given (very long texts are not scanned past that point)."""
    if max_words is None:
        return _WORD_RE.findall(text)
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1 or None, got {max_words}.")
    if len(text) <= 16 * max_words:  # cheap path: findall then cut
        words = _WORD_RE.findall(text)
        return words[:max_words] if len(words) > max_words else words
    return [match.group() for match in itertools.islice(_WORD_RE.finditer(text), max_words)]


def _make_rng(seed: SeedLike) -> random.Random:
    if isinstance(seed, random.Random):
        return seed
    if seed is None or isinstance(seed, int):
        return random.Random(seed)
    raise TypeError(f"seed must be an int, a random.Random or None, got {type(seed).__name__}.")


def _stochastic_round(x: float, rng: random.Random) -> int:
    """``floor(x)`` plus one with probability ``x - floor(x)``: unbiased, ``E = x``."""
    whole = math.floor(x)
    return whole + (rng.random() < x - whole)


def _random_composition(total: int, parts: int, rng: random.Random) -> list[int]:
    """``parts`` positive integers summing to ``total``, uniform over all such compositions."""
    if parts <= 1:
        return [total]
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total])]


def _check_ratio(ratio: float) -> float:
    ratio = float(ratio)
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}.")
    return ratio


class SentenceAugmentation:
    """Base class: one random sentence augmentation with a ratio and its own generator.

    Subclasses implement `_augment(words)` on a non-empty list of words. Call an instance on a
    string (returns the view as a string), use `augment_words` on a list of words, or
    `augment_batch` on a list of strings.

    Args:
        ratio: fraction of the sentence's words the augmentation touches, in [0, 1].
        seed: an int, a `random.Random` (shared, e.g. by `CLEARAugmenter`) or None (fresh entropy).
        max_words: truncate sentences to their first ``max_words`` words first (None: no limit).
        del_token: the deletion marker (and the view of an empty sentence).
    """

    name = "augmentation"

    def __init__(
        self, ratio: float = 0.3, seed: SeedLike = None, max_words: Optional[int] = None, del_token: str = DEL_TOKEN
    ) -> None:
        self.ratio = _check_ratio(ratio)
        self.rng = _make_rng(seed)
        if max_words is not None and max_words < 1:
            raise ValueError(f"max_words must be >= 1 or None, got {max_words}.")
        self.max_words = max_words
        self.del_token = del_token

    def reseed(self, seed: SeedLike) -> None:
        """Replace the generator (e.g. in each DataLoader worker, so workers draw different views)."""
        self.rng = _make_rng(seed)

    def augment_words(self, words: Sequence[str]) -> list[str]:
        """The augmented list of words (a new list; ``words`` is not changed). Never empty."""
        if not words:
            return [self.del_token]
        return self._augment(list(words))

    def _augment(self, words: list[str]) -> list[str]:
        raise NotImplementedError

    def augment_batch(self, texts: Sequence[str]) -> list[str]:
        """One view of each text."""
        return [" ".join(self.augment_words(split_words(text, self.max_words))) for text in texts]

    def __call__(self, text: str) -> str:
        return " ".join(self.augment_words(split_words(text, self.max_words)))

    def _deletion_count(self, n_words: int) -> int:
        # keep at least one original word: a view that is only [DEL] says nothing about its sentence
        return min(_stochastic_round(self.ratio * n_words, self.rng), n_words - 1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(ratio={self.ratio}, max_words={self.max_words})"


class WordDeletion(SentenceAugmentation):
    """CLEAR's word deletion: randomly chosen words are deleted and each replaced by ``[DEL]``.

    ``ratio * n`` words (stochastic rounding, at most ``n - 1``) are chosen uniformly without
    replacement. Each deleted word becomes its own ``[DEL]``, also when deleted words are
    neighbours (``Tok1 [DEL] Tok3 [DEL] [DEL]``), as the paper replaces each deleted word: the
    view keeps the sentence's length and the positions of the kept words, which is what
    distinguishes word deletion from `SpanDeletion` (one ``[DEL]`` per deleted run). ``merge_consecutive=True``
    collapses runs of ``[DEL]`` into one instead. The kept words stay in their order.

    >>> WordDeletion(ratio=0.5, seed=0)("the cat sat on the mat")  # doctest: +SKIP
    'the [DEL] sat [DEL] [DEL] mat'
    """

    name = "word_deletion"

    def __init__(
        self,
        ratio: float = 0.3,
        seed: SeedLike = None,
        max_words: Optional[int] = None,
        del_token: str = DEL_TOKEN,
        merge_consecutive: bool = False,
    ) -> None:
        super().__init__(ratio, seed, max_words, del_token)
        self.merge_consecutive = merge_consecutive

    def sample_positions(self, n_words: int) -> list[int]:
        """The indices of the words to delete from a sentence of ``n_words`` words (unsorted)."""
        count = self._deletion_count(n_words)
        return self.rng.sample(range(n_words), count) if count > 0 else []

    def _augment(self, words: list[str]) -> list[str]:
        for index in self.sample_positions(len(words)):
            words[index] = self.del_token
        if self.merge_consecutive:
            words = [w for i, w in enumerate(words) if w != self.del_token or i == 0 or words[i - 1] != self.del_token]
        return words


class _SpanAugmentation(SentenceAugmentation):
    """An augmentation that works on spans of consecutive words, ``mean_span_length`` words long
    on average (span deletion, reordering)."""

    def __init__(
        self,
        ratio: float = 0.3,
        seed: SeedLike = None,
        max_words: Optional[int] = None,
        del_token: str = DEL_TOKEN,
        mean_span_length: float = 3.0,
    ) -> None:
        super().__init__(ratio, seed, max_words, del_token)
        if mean_span_length < 1:
            raise ValueError(f"mean_span_length must be >= 1, got {mean_span_length}.")
        self.mean_span_length = float(mean_span_length)


class SpanDeletion(_SpanAugmentation):
    """CLEAR's span deletion: randomly chosen spans of consecutive words are deleted, each span
    replaced by one ``[DEL]``.

    ``m = ratio * n`` words in total (stochastic rounding, at most ``n - 1``) are deleted in
    ``k = max(1, round(m / mean_span_length))`` spans. The span lengths are a uniformly random
    composition of ``m`` into ``k`` positive parts; the spans go into ``k`` distinct gaps between
    the ``n - m`` kept words (uniformly), so no two spans touch and every ``[DEL]`` stands for
    exactly one span. The kept words stay in their order.

    Args:
        mean_span_length: the average number of words a span covers (3, as in SpanBERT-style
            span masking where spans average 3-4 words).
    """

    name = "span_deletion"

    def sample_spans(self, n_words: int) -> list[tuple[int, int]]:
        """The ``(start, end)`` word ranges to delete from a sentence of ``n_words`` words: sorted,
        non-empty, pairwise separated by at least one kept word, at least one word kept overall."""
        deleted = self._deletion_count(n_words)
        if deleted <= 0:
            return []
        kept = n_words - deleted
        n_spans = min(max(1, round(deleted / self.mean_span_length)), deleted, kept + 1)
        lengths = _random_composition(deleted, n_spans, self.rng)
        gaps = sorted(self.rng.sample(range(kept + 1), n_spans))  # gap g: just before the g-th kept word
        spans, start, previous_gap = [], 0, 0
        for gap, length in zip(gaps, lengths):
            start += gap - previous_gap  # kept words between the previous span and this one
            spans.append((start, start + length))
            start += length
            previous_gap = gap
        return spans

    def _augment(self, words: list[str]) -> list[str]:
        out: list[str] = []
        position = 0
        for start, end in self.sample_spans(len(words)):
            out.extend(words[position:start])
            out.append(self.del_token)
            position = end
        out.extend(words[position:])
        return out


class Reordering(_SpanAugmentation):
    """CLEAR's reordering: randomly chosen pairs of spans swap places.

    ``m = ratio * n`` words (stochastic rounding; at least 2 when ``ratio > 0`` and ``n >= 2``, so
    something moves) are covered by an even number ``2p`` of non-overlapping spans,
    ``p = max(1, round(m / (2 * mean_span_length)))``, with uniformly random lengths and positions;
    the spans are paired at random and the two spans of each pair swap places. Words outside the
    spans stay where they are. The multiset of words never changes.
    """

    name = "reordering"

    def sample_swaps(self, n_words: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """The pairs of ``(start, end)`` word ranges that swap places in a sentence of ``n_words``
        words: non-empty, non-overlapping ranges, each in exactly one pair."""
        if n_words < 2 or self.ratio == 0.0:
            return []
        moved = min(max(2, _stochastic_round(self.ratio * n_words, self.rng)), n_words)
        n_pairs = max(1, round(moved / (2 * self.mean_span_length)))
        n_spans = min(2 * n_pairs, moved - moved % 2)
        lengths = _random_composition(moved, n_spans, self.rng)
        fixed = n_words - moved
        # the fixed words and the spans in a uniformly random interleaving
        slots = sorted(self.rng.sample(range(fixed + n_spans), n_spans))
        spans, covered = [], 0
        for index, (slot, length) in enumerate(zip(slots, lengths)):
            start = (slot - index) + covered  # fixed words before it + words of the spans before it
            spans.append((start, start + length))
            covered += length
        order = list(range(n_spans))
        self.rng.shuffle(order)
        return [(spans[a], spans[b]) if a < b else (spans[b], spans[a]) for a, b in zip(order[::2], order[1::2])]

    @staticmethod
    def apply_swaps(words: Sequence[str], swaps: Sequence[tuple[tuple[int, int], tuple[int, int]]]) -> list[str]:
        """``words`` with the two ranges of every pair in ``swaps`` exchanged."""
        partner = {}
        for first, second in swaps:
            partner[first[0]] = (first[1], second)
            partner[second[0]] = (second[1], first)
        out: list[str] = []
        position, n = 0, len(words)
        while position < n:
            if position in partner:
                end, (start, stop) = partner[position]
                out.extend(words[start:stop])
                position = end
            else:
                out.append(words[position])
                position += 1
        return out

    def _augment(self, words: list[str]) -> list[str]:
        return self.apply_swaps(words, self.sample_swaps(len(words)))


# --------------------------------------------------------------------------------------------
# WordNet, offline
# --------------------------------------------------------------------------------------------

DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
"""Where Debian's ``wordnet-base`` (+ ``wordnet-sense-index``) packages put WordNet 3.0."""

WORDNET_FILES = (
    "data.noun", "data.verb", "data.adj", "data.adv",
    "index.noun", "index.verb", "index.adj", "index.adv",
    "noun.exc", "verb.exc", "adj.exc", "adv.exc",
    "cntlist.rev", "index.sense",
)  # fmt: skip
"""The WordNet database files nltk's reader opens, besides ``lexnames``."""

# WordNet 3.0's lexicographer file list (lexnames(5WN)): number, name, syntactic category
# (1 noun, 2 verb, 3 adjective, 4 adverb). Debian's packages leave this file out; nltk needs it.
_LEXNAMES = (
    "adj.all 3", "adj.pert 3", "adv.all 4", "noun.Tops 1", "noun.act 1", "noun.animal 1",
    "noun.artifact 1", "noun.attribute 1", "noun.body 1", "noun.cognition 1",
    "noun.communication 1", "noun.event 1", "noun.feeling 1", "noun.food 1", "noun.group 1",
    "noun.location 1", "noun.motive 1", "noun.object 1", "noun.person 1", "noun.phenomenon 1",
    "noun.plant 1", "noun.possession 1", "noun.process 1", "noun.quantity 1", "noun.relation 1",
    "noun.shape 1", "noun.state 1", "noun.substance 1", "noun.time 1", "verb.body 2",
    "verb.change 2", "verb.cognition 2", "verb.communication 2", "verb.competition 2",
    "verb.consumption 2", "verb.contact 2", "verb.creation 2", "verb.emotion 2", "verb.motion 2",
    "verb.perception 2", "verb.possession 2", "verb.social 2", "verb.stative 2", "verb.weather 2",
    "adj.ppl 3",
)  # fmt: skip


class WordNetNotFoundError(LookupError):
    """Neither nltk's data folders nor Debian's WordNet files hold WordNet."""


def default_nltk_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/hf_contrastive/nltk_data`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hf_contrastive" / "nltk_data"


def lexnames_text() -> str:
    """The content of WordNet 3.0's ``lexnames`` file (45 lines ``NN<TAB>name<TAB>category``)."""
    return "".join(f"{i:02d}\t{entry.split()[0]}\t{entry.split()[1]}\n" for i, entry in enumerate(_LEXNAMES))


def _complete_wordnet_dir(directory: Path) -> bool:
    return all((directory / name).is_file() for name in (*WORDNET_FILES, "lexnames"))


def _add_nltk_path(nltk_data_dir: Path) -> None:
    import nltk

    if str(nltk_data_dir) not in nltk.data.path:
        nltk.data.path.append(str(nltk_data_dir))


def locate_wordnet(
    debian_dir: Union[str, Path, None] = None, cache_dir: Union[str, Path, None] = None
) -> Optional[Path]:
    """Make nltk able to read WordNet without downloading anything; return the nltk data folder
    that was added to ``nltk.data.path`` (None when nltk already finds WordNet by itself).

    1. nltk's usual places (``nltk.data.find("corpora/wordnet")``: ``~/nltk_data``, ``$NLTK_DATA``,
       the virtualenv's ``nltk_data``, ... where ``nltk.download("wordnet")`` puts it);
    2. a folder this function built before, ``<cache_dir>/corpora/wordnet``;
    3. Debian's files (``apt-get install wordnet-base wordnet-sense-index`` puts them in
       ``/usr/share/wordnet``): copied (nltk rejects symlinks that leave its data folder) into
       ``<cache_dir>/corpora/wordnet`` with the ``lexnames`` file Debian leaves out. The folder is
       built under a temporary name and renamed, so concurrent processes never see half of it.

    Raises:
        WordNetNotFoundError: none of the three exists; the message names both ways to get it.
    """
    import nltk

    try:
        nltk.data.find("corpora/wordnet")
        return None
    except LookupError:
        pass
    cache_dir = Path(cache_dir) if cache_dir is not None else default_nltk_cache_dir()
    target = cache_dir / "corpora" / "wordnet"
    if _complete_wordnet_dir(target):
        _add_nltk_path(cache_dir)
        return cache_dir
    debian_dir = Path(debian_dir) if debian_dir is not None else DEBIAN_WORDNET_DIR
    missing = [name for name in WORDNET_FILES if not (debian_dir / name).is_file()]
    if missing:
        raise WordNetNotFoundError(
            "WordNet is needed for synonym substitution and was not found: nltk.data.find('corpora/wordnet') "
            f"searched {list(nltk.data.path)}, and {debian_dir} lacks {missing}. Either run "
            "`python -c \"import nltk; nltk.download('wordnet')\"` (needs internet), or install Debian's "
            "WordNet: `apt-get install -y --no-install-recommends wordnet-base wordnet-sense-index`."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".wordnet-", dir=target.parent))
    try:
        os.chmod(building, 0o755)  # mkdtemp makes it private; the files are public data
        for name in WORDNET_FILES:
            shutil.copyfile(debian_dir / name, building / name)
        (building / "lexnames").write_text(lexnames_text())
        try:
            os.rename(building, target)
        except OSError:  # another process finished first
            if not _complete_wordnet_dir(target):
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    _add_nltk_path(cache_dir)
    return cache_dir


# Closed-class English words: what a POS tagger would tag DT, IN, PRP, CC, MD, TO, ... WordNet
# knows some of them as nouns ("a" -> angstrom, "in" -> inch, "it" -> information technology);
# substituting those would not be a synonym of the word as used.
FUNCTION_WORDS = frozenset(
    """a an the this that these those some any each every either neither no all both half such what
    which whose whatever whichever i me my mine myself you your yours yourself yourselves he him his
    himself she her hers herself it its itself we us our ours ourselves they them their theirs
    themselves who whom one ones someone anyone everyone nobody somebody anybody everybody something
    anything everything nothing in on at by for with about against between into through during before
    after above below to from up down of off over under again further then once than as like unlike
    near across along among around behind beside besides beyond despite except inside outside onto
    toward towards upon within without via per and but or nor so yet if because although though while
    whereas unless until since whether where when why how not n't no yes am is are was were be been
    being have has had having do does did doing will would shall should can could may might must ought
    there here also just only very too s 're 've 'll 'd 'm""".split()
)


_WORDNET_TAG = {"n": "NN", "v": "VB", "a": "JJ", "r": "RB"}


def _wordnet():
    from nltk.corpus import wordnet

    return wordnet


def _is_wordlike(word: str) -> bool:
    return word[:1].isalpha() and word.replace("-", "").replace("'", "").replace("’", "").isalpha()


_POS_ORDER = ("n", "v", "a", "r")


@functools.lru_cache(maxsize=1 << 18)
def _wordnet_entry(word: str) -> tuple[str, dict[str, tuple[str, ...]]]:
    """(POS tag guess, {part of speech: single-word synonyms}) of a lower-case word: one
    ``wordnet.synsets`` call per word, cached (the first look-up of a word parses its synsets from
    WordNet's data files; every later one is a dictionary hit)."""
    if word in FUNCTION_WORDS or not _is_wordlike(word):
        return "DT", {}
    wordnet = _wordnet()
    by_pos: dict[str, list] = {}
    for synset in wordnet.synsets(word):
        by_pos.setdefault("a" if synset.pos() == "s" else synset.pos(), []).append(synset)  # satellites are adjectives
    candidates: dict[str, tuple[str, ...]] = {}
    for pos, synsets in by_pos.items():
        seen = {word, wordnet.morphy(word, pos)}  # the word and its base form ("dogs" -> "dog") are not substitutes
        names = []
        for synset in synsets:
            for lemma in synset.lemmas():
                name = lemma.name()
                key = name.lower()
                if key in seen or "_" in name or "-" in name or len(_WORD_RE.findall(name)) != 1:
                    continue
                seen.add(key)
                names.append(name)
        if names:
            candidates[pos] = tuple(names)
    if not candidates:
        return "DT", {}
    # the most polysemous part of speech among those with synonyms (ties: noun, verb, adjective, adverb)
    best = max(candidates, key=lambda pos: (len(by_pos[pos]), -_POS_ORDER.index(pos)))
    return _WORDNET_TAG[best], candidates


def wordnet_synonyms(word: str, pos: Optional[str] = None) -> tuple[str, ...]:
    """WordNet synonyms of ``word``: lemma names of its synsets (of part of speech ``pos`` when
    given; ``"s"``, adjective satellite, is the same as ``"a"``), single words only (no ``_`` /
    ``-`` multi-word lemmas, so one word is replaced by one word), without the word itself or its
    base form, in WordNet's order, each once. Function words and non-words (numbers, punctuation,
    ``[DEL]``) have none. Cached per word."""
    candidates = _wordnet_entry(word.lower())[1]
    if pos is None:
        return tuple(dict.fromkeys(name for p in _POS_ORDER for name in candidates.get(p, ())))
    return candidates.get("a" if pos == "s" else pos, ())


def guess_pos_tag(word: str) -> str:
    """A Penn Treebank tag guessed from WordNet alone (nltk's tagger model is not available
    offline): among the parts of speech in which ``word`` has single-word synonyms, the one with
    the most senses (ties: noun, verb, adjective, adverb), as ``NN``/``VB``/``JJ``/``RB``; ``DT``
    for function words, non-words (numbers, punctuation, ``[DEL]``) and words without synonyms,
    which nlpaug's `SynonymAug` then leaves out of its draw. Cached per word."""
    return _wordnet_entry(word.lower())[0]


def _pos_tag(tokens: Iterable[str]) -> list[tuple[str, str]]:
    return [(token, guess_pos_tag(token)) for token in tokens]


def _predict(word: str, pos: Optional[str] = None) -> tuple[str, ...]:
    return wordnet_synonyms(word, pos)


class SynonymSubstitution(SentenceAugmentation):
    """CLEAR's synonym substitution: randomly chosen words are replaced by WordNet synonyms,
    through nlpaug's ``SynonymAug(aug_src="wordnet")``.

    nlpaug does the drawing of words and candidates, the capitalisation alignment and the
    replacement; this class configures the instance it builds (nothing is patched globally):

    * WordNet is found offline by `locate_wordnet` (nltk's usual places, else Debian's files);
    * the part-of-speech tags nlpaug asks for come from `guess_pos_tag` (WordNet's own synsets:
      nltk's perceptron tagger cannot be downloaded here) instead of ``nltk.pos_tag``;
    * candidates come from `wordnet_synonyms` (single words only, so a view has as many words as
      its sentence); tags and candidates are cached per word, so a repeated word costs one
      dictionary look-up;
    * the count is ``ratio * n_words`` with stochastic rounding (nlpaug: ``ceil``, capped at 10),
      capped by the number of words that have synonyms; words nlpaug draws from are those tagged
      other than ``DT``: function words, numbers, punctuation and ``[DEL]`` are never touched;
    * its random draws come from this object's generator (``seed``), not the global `random`.

    Importing ``nlpaug.augmenter.word`` takes 5-7 s and loading WordNet 3-5 s: both happen on the
    first use, not at construction or package import.

    Args:
        ratio: fraction of the sentence's words to replace (as far as enough have synonyms).
        wordnet_debian_dir, wordnet_cache_dir: passed to `locate_wordnet`.
    """

    name = "synonym_substitution"

    def __init__(
        self,
        ratio: float = 0.3,
        seed: SeedLike = None,
        max_words: Optional[int] = None,
        del_token: str = DEL_TOKEN,
        wordnet_debian_dir: Union[str, Path, None] = None,
        wordnet_cache_dir: Union[str, Path, None] = None,
    ) -> None:
        super().__init__(ratio, seed, max_words, del_token)
        self.wordnet_debian_dir = wordnet_debian_dir
        self.wordnet_cache_dir = wordnet_cache_dir
        self._nlpaug = None

    @staticmethod
    def cache_clear() -> None:
        """Empty the synonym and part-of-speech caches (shared by all instances)."""
        _wordnet_entry.cache_clear()

    @staticmethod
    def cache_info():
        """``functools.lru_cache`` statistics of the per-word WordNet look-ups (shared by all instances)."""
        return _wordnet_entry.cache_info()

    @property
    def nlpaug_augmenter(self):
        """The configured ``nlpaug.augmenter.word.SynonymAug`` (built on first access)."""
        if self._nlpaug is None:
            locate_wordnet(self.wordnet_debian_dir, self.wordnet_cache_dir)
            import nlpaug.augmenter.word as naw

            aug = naw.SynonymAug(
                aug_src="wordnet", aug_p=self.ratio, aug_min=0, aug_max=None,
                tokenizer=str.split, reverse_tokenizer=" ".join,
            )  # fmt: skip
            aug.model.pos_tag = _pos_tag
            aug.model.predict = _predict
            aug.sample = self._sample
            aug.generate_aug_cnt = self._count
            self._nlpaug = aug
        return self._nlpaug

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_nlpaug"] = None  # holds nltk's WordNet reader: rebuilt on first use after unpickling
        return state

    def _sample(self, x, num=None):
        if isinstance(x, list):
            return self.rng.sample(x, num)
        return self.rng.randint(1, x - 2)  # nlpaug's int case: numpy's randint(1, x - 1), upper bound excluded

    def _count(self, size: int, aug_p: Optional[float] = None) -> int:
        return _stochastic_round(self.ratio * size, self.rng) if size else 0

    def _augment(self, words: list[str]) -> list[str]:
        return self.augment_texts([" ".join(words)])[0].split()

    def augment_texts(self, texts: list[str]) -> list[str]:
        """Views of texts whose words are already separated by single spaces (one nlpaug call)."""
        if self.ratio == 0.0 or not texts:
            return list(texts)
        out = self.nlpaug_augmenter.augment(texts)
        if len(out) != len(texts):  # nlpaug returns its input when nothing came out
            raise RuntimeError(f"nlpaug returned {len(out)} views for {len(texts)} texts.")
        return out

    def augment_batch(self, texts: Sequence[str]) -> list[str]:
        word_lists = [split_words(text, self.max_words) for text in texts]
        joined = [" ".join(words) for words in word_lists if words]
        views = iter(self.augment_texts(joined))
        return [next(views) if words else self.del_token for words in word_lists]


_CLASSES = {cls.name: cls for cls in (WordDeletion, SpanDeletion, Reordering, SynonymSubstitution)}


class CLEARAugmenter:
    """Two views of every sentence of a minibatch, as CLEAR builds its positive pairs.

    Once per call (one minibatch) two augmentations are drawn: two different ones, uniformly, from
    ``augmentations`` (both views use the same one when it holds a single name), or the fixed
    ``pair``. The first is applied to every sentence for view a, the second for view b; row k of
    both lists comes from sentence k. The paper found the best pair depends on the task, e.g.
    ``("word_deletion", "reordering")`` for sentiment, ``("span_deletion", "synonym_substitution")``
    for paraphrase (`PAPER_PAIRS`).

    Args:
        augmentations: names from `AUGMENTATIONS` to draw from.
        pair: a fixed (view a, view b) pair of names; overrides ``augmentations``.
        word_deletion_ratio, span_deletion_ratio, reordering_ratio, synonym_substitution_ratio:
            the fraction of words each touches (0.3 each, see the module docstring).
        mean_span_length: mean words per span for span deletion and reordering.
        max_words: sentences are cut to their first ``max_words`` words before augmentation.
        seed: an int or `random.Random`; it drives the pair draws and (through seeds drawn from it)
            every augmentation, so a seeded augmenter is reproducible.
        del_token: the deletion marker.

    >>> augmenter = CLEARAugmenter(pair=("word_deletion", "reordering"), seed=0)
    >>> view_a, view_b = augmenter(["The cat sat on the mat.", "Stocks fell sharply on Monday."])
    """

    def __init__(
        self,
        augmentations: Sequence[str] = AUGMENTATIONS,
        pair: Optional[Sequence[str]] = None,
        word_deletion_ratio: float = DEFAULT_RATIOS["word_deletion"],
        span_deletion_ratio: float = DEFAULT_RATIOS["span_deletion"],
        reordering_ratio: float = DEFAULT_RATIOS["reordering"],
        synonym_substitution_ratio: float = DEFAULT_RATIOS["synonym_substitution"],
        mean_span_length: float = 3.0,
        max_words: Optional[int] = 512,
        seed: SeedLike = None,
        del_token: str = DEL_TOKEN,
    ) -> None:
        if isinstance(augmentations, str):
            augmentations = (augmentations,)
        augmentations = tuple(augmentations)
        if pair is not None:
            pair = tuple(pair)
            if len(pair) != 2:
                raise ValueError(f"pair must name two augmentations (one for each view), got {pair}.")
        names = pair if pair is not None else augmentations
        if not names:
            raise ValueError("augmentations is empty: name at least one of " + ", ".join(AUGMENTATIONS) + ".")
        unknown = [name for name in names if name not in _CLASSES]
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; choose from {list(AUGMENTATIONS)}.")
        if len(set(augmentations)) != len(augmentations):
            raise ValueError(f"augmentations has duplicates: {augmentations}.")
        self.augmentations = augmentations
        self.pair = pair
        self.max_words = max_words
        self.del_token = del_token
        self.ratios = {
            "word_deletion": _check_ratio(word_deletion_ratio),
            "span_deletion": _check_ratio(span_deletion_ratio),
            "reordering": _check_ratio(reordering_ratio),
            "synonym_substitution": _check_ratio(synonym_substitution_ratio),
        }
        self.rng = _make_rng(seed)
        self.transforms: dict[str, SentenceAugmentation] = {}
        for name in dict.fromkeys(names):
            kwargs = {"mean_span_length": mean_span_length} if name in ("span_deletion", "reordering") else {}
            self.transforms[name] = _CLASSES[name](
                ratio=self.ratios[name],
                seed=self.rng.getrandbits(64),
                max_words=max_words,
                del_token=del_token,
                **kwargs,
            )
        self.last_pair: Optional[tuple[str, str]] = None

    def reseed(self, seed: SeedLike) -> None:
        """Reseed the pair draws and every augmentation (e.g. once in each DataLoader worker)."""
        self.rng = _make_rng(seed)
        for transform in self.transforms.values():
            transform.reseed(self.rng.getrandbits(64))

    def draw_pair(self) -> tuple[str, str]:
        """The (view a, view b) augmentation names for the next minibatch."""
        if self.pair is not None:
            return self.pair  # type: ignore[return-value]
        if len(self.augmentations) == 1:
            return (self.augmentations[0], self.augmentations[0])
        first, second = self.rng.sample(self.augmentations, 2)
        return (first, second)

    def _views(self, name: str, word_lists: list[list[str]]) -> list[str]:
        transform = self.transforms[name]
        if isinstance(transform, SynonymSubstitution):
            joined = [" ".join(words) for words in word_lists if words]
            views = iter(transform.augment_texts(joined))
            return [next(views) if words else self.del_token for words in word_lists]
        augment = transform.augment_words
        return [" ".join(augment(words)) for words in word_lists]

    def __call__(self, sentences: Sequence[str]) -> tuple[list[str], list[str]]:
        """``(view_a, view_b)``: two lists of strings, row k of each from ``sentences[k]``."""
        if isinstance(sentences, str):
            raise TypeError("CLEARAugmenter takes a list of sentences (a minibatch), got one string.")
        word_lists = [split_words(text if isinstance(text, str) else str(text), self.max_words) for text in sentences]
        name_a, name_b = self.last_pair = self.draw_pair()
        return self._views(name_a, word_lists), self._views(name_b, word_lists)

    augment_batch = __call__

    def __repr__(self) -> str:
        what = f"pair={self.pair}" if self.pair is not None else f"augmentations={self.augmentations}"
        return f"CLEARAugmenter({what}, ratios={self.ratios}, max_words={self.max_words})"


__all__ = [
    "AUGMENTATIONS",
    "CLEARAugmenter",
    "DEBIAN_WORDNET_DIR",
    "DEFAULT_RATIOS",
    "DEL_TOKEN",
    "PAPER_PAIRS",
    "Reordering",
    "SentenceAugmentation",
    "SpanDeletion",
    "SynonymSubstitution",
    "WordDeletion",
    "WordNetNotFoundError",
    "default_nltk_cache_dir",
    "guess_pos_tag",
    "lexnames_text",
    "locate_wordnet",
    "split_words",
    "wordnet_synonyms",
]
