"""Reference merges for clip.LearnMerges (clip/bpe_learn_test.go).

Classic BPE (Sennrich et al., subword-nmt's learn_bpe without its
incremental statistics), written independently of the Go code: words are
CLIP's pre-tokens of the lower-cased ASCII corpus below, symbols are bytes
with "</w>" on the last one; the most frequent pair is merged, ties broken
by the smallest pair. Run with /usr/bin/python3 from the repository root.
"""
import collections
import json
import re

CORPUS = [
    "a small red triangle on the left",
    "a photo of a large blue circle in the center",
    "an orange star at the top",
    "The quick brown fox jumps over the lazy dog.",
    "the lazy dog sleeps; the quick fox runs!",
    "CLIP learns 2 towers: images and texts, 100 steps.",
    "a green cross at the bottom, a white square on the right",
    "it's a purple shape -- isn't it?",
]
CASES = [(60, 2), (40, 1)]  # (merges, minimum pair count)

# CLIP's pre-token regex, restricted to the ASCII letters, digits and
# punctuation of the corpus (CLIP's byte alphabet is the identity there).
PAT = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")


def words(corpus):
    freq = collections.Counter()
    for text in corpus:
        text = " ".join(text.split()).lower()
        for tok in PAT.findall(text):
            freq[tuple(tok[:-1]) + (tok[-1] + "</w>",)] += 1
    return freq


def learn(freq, n, min_count):
    merges = []
    vocab = dict(freq)
    while len(merges) < n:
        pairs = collections.Counter()
        for w, f in vocab.items():
            for a, b in zip(w, w[1:]):
                pairs[a, b] += f
        if not pairs:
            break
        (a, b), count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < min_count:
            break
        merges.append([a, b])
        new = {}
        for w, f in vocab.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + f
        vocab = new
    return merges, {"".join(w).replace("</w>", ""): list(w) for w in vocab}


cases = []
for n, min_count in CASES:
    merges, segs = learn(words(CORPUS), n, min_count)
    cases.append({"n": n, "min_count": min_count, "merges": merges, "segments": segs})
    print(n, min_count, "->", len(merges), "merges")
with open("clip/testdata/bpe/merges.json", "w") as f:
    json.dump({"corpus": CORPUS, "cases": cases}, f, indent=1)
