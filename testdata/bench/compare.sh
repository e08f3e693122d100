#!/bin/sh
# Side-by-side CPU timings: goclip (examples/bench) and PyTorch
# (bench_torch.py on OpenAI's model.py), back to back on the same machine,
# random weights, float32, batch 8, 2 threads each. Prints every line of
# both and, per workload, the ratio of median rates goclip / PyTorch.
#
#   testdata/bench/compare.sh [MODEL_PY] [ROUNDS] [N]
#
# MODEL_PY is OpenAI's clip/model.py (default /tmp/clip_model.py; get it
# from github.com/openai/CLIP, clip/model.py). Each of ROUNDS (default 2)
# rounds runs goclip then PyTorch for every workload, N (default 5) timed
# batches each; the ratio uses the medians over all rounds. Run from the
# repository root.
set -eu
MODEL_PY=${1:-/tmp/clip_model.py}
ROUNDS=${2:-2}
N=${3:-5}
PY=/usr/bin/python3
[ -f "$MODEL_PY" ] || { echo "compare.sh: $MODEL_PY not found: pass OpenAI's clip/model.py" >&2; exit 1; }
[ -f go.mod ] || { echo "compare.sh: run from the repository root" >&2; exit 1; }
BIN=$(mktemp -d)/bench
LOG=$(mktemp)
trap 'rm -f "$BIN" "$LOG"' EXIT
go build -o "$BIN" ./examples/bench
export GOMAXPROCS=${GOMAXPROCS:-2}

# workload: label model tower extra-args
run_round() {
	for w in "ViT-B/32 image" "RN50 image" "ViT-B/32 text"; do
		set -- $w
		"$BIN" -model "$1" -random -tower "$2" -batch 8 -n "$N" | tee -a "$LOG"
		"$PY" testdata/bench/bench_torch.py "$MODEL_PY" --model "$1" --tower "$2" --batch 8 --n "$N" | tee -a "$LOG"
	done
}
i=0
while [ "$i" -lt "$ROUNDS" ]; do
	run_round
	i=$((i + 1))
done

echo
echo "ratio goclip/PyTorch of median images|texts per second (all rounds):"
awk '
/^(BENCH|TORCH) / {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	k = f["model"] " " f["tower"]
	if ($1 == "BENCH") { g[k, ++ng[k]] = f["per_s"] } else { t[k, ++nt[k]] = f["per_s"] }
	keys[k] = 1
}
function median(a, k, n,   i, j, v, tmp) {
	for (i = 1; i <= n; i++) v[i] = a[k, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { tmp = v[i]; v[i] = v[j]; v[j] = tmp }
	return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
END {
	for (k in keys) {
		gm = median(g, k, ng[k]); tm = median(t, k, nt[k])
		printf "RATIO %-16s goclip=%.2f/s (%d runs) pytorch=%.2f/s (%d runs) ratio=%.2f\n", k, gm, ng[k], tm, nt[k], gm / tm
	}
}' "$LOG"
