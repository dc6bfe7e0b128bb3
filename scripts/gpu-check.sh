#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU from the folder that
# `make gpu-kit` fills (no Go, no network needed; PyTorch optional):
#
#   bin/gpu/gpu-check.sh [OUT]
#
# It runs every cuda-tagged test (each kernel against the CPU engine with a
# verdict line per kernel, one training step of every model, 20 SE-ResNet
# steps, every model's step against PyTorch's), times batch-64 training
# steps of the SE-ResNet and the baseline beside PyTorch eager on the same
# GPU, trains the SE-ResNet for one epoch, runs the kernel lab (writing its
# variant table to OUT/variants.tsv), prints one line per check and a
# verdict line, and writes logs under OUT (default: ./gpu-out).
set -uo pipefail
kit="$(cd "$(dirname "$0")" && pwd)"
out="${1:-gpu-out}"
mkdir -p "$out"
repo="${GOTRAIN_REPO:-$kit/../..}" # bench/pytorch lives in the repository
failed=0
check() { # check NAME STATUS DETAIL
	printf '%-34s %-4s %s\n' "$1" "$2" "$3"
	[ "$2" = ok ] || [ "$2" = skip ] || failed=$((failed + 1))
}
secs() { echo $(($(date +%s) - $1)); }

echo "gpu-check: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# 1. Parity tests: the kernels and models against the CPU engine
# (parity.test), the backend's own tests (cuda.test), every model against
# PyTorch's fixtures (models.test, run from the kit, which holds testdata/).
t0=$(date +%s)
for bin in parity cuda models; do
	args=(-test.v -test.count=1 -test.timeout 190s)
	[ $bin = models ] && args+=(-test.run '^TestTorchModelsCUDA$')
	log="$out/$bin-test.log"
	(cd "$kit" && timeout 200 ./$bin.test "${args[@]}") >"$log" 2>&1
	rc=$?
	for t in $(grep -E '^--- ' "$log" | awk '{print $3}' | grep -v / | sort -u); do
		st=$(grep -E "^--- [A-Z]+: $t " "$log" | head -1 | awk '{print $2}')
		case "$st" in PASS:) s=ok ;; SKIP:) s=skip ;; *) s=FAIL ;; esac
		n=$(grep -cE "^\s+\S+_test.go:[0-9]+: ok " <(sed -n "/^=== RUN   $t\$/,/^--- [A-Z]*: $t /p" "$log"))
		check "test $t" "$s" "($n checks)"
	done
	for t in $(grep -E '^    --- (PASS|FAIL)' "$log" | awk '{print $3}'); do
		st=$(grep -E "^    --- [A-Z]+: $t " "$log" | head -1 | awk '{print $2}')
		line=$(grep -E "(ok $(basename "$t") batch|$(basename "$t") on cuda)" "$log" | head -1 | sed 's/^ *//; s/^[a-z_]*\.go:[0-9]*: //' | cut -c1-400)
		[ "$st" = PASS: ] && check "  $t" ok "$line" || check "  $t" FAIL "$(grep -A3 -E "^    --- FAIL: $t " "$log" | tail -3 | tr -s ' ' | head -c 300)"
	done
	# parity.test's verdict per kernel: a count of those that passed.
	if [ $bin = parity ]; then
		k=$(grep -cE '^gpu [a-z0-9_]+: ok' "$log")
		nk=$(grep -cE '^gpu [a-z0-9_]+: FAIL' "$log")
		[ "$nk" = 0 ] && check "kernels checked" ok "$k kernels" || check "kernels checked" FAIL "$nk without a check: $(grep -E '^gpu [a-z0-9_]+: FAIL' "$log" | head -5 | tr '\n' ' ')"
	fi
	[ $rc = 0 ] || { check "$bin.test exit" FAIL "rc=$rc, see $bin-test.log"; grep -E '^\s+\S+_test.go:[0-9]+: ' "$log" | grep -v ': ok ' | head -20; }
done
echo "  (tests took $(secs $t0) s)"

# Where a batch-64 SE-ResNet step's device time goes (informational).
(cd "$kit" && GOTRAIN_PROFILE=1 timeout 60 ./parity.test -test.v -test.run '^TestProfileSEResNet$') >"$out/profile.log" 2>&1
grep -E 'profile tf32' "$out/profile.log" | sed 's/^ *models_test.go:[0-9]*: /  /'

# 2. Training-step throughput, gotrain beside PyTorch eager on this GPU.
ptflags() { # the recipes of models/*.go
	case $1 in
	seresnet) echo "--optimizer sgd --lr 0.1" ;;
	baseline) echo "--optimizer adadelta --lr 0.1" ;;
	esac
}
for m in seresnet baseline; do
	(cd "$kit" && timeout 100 ./bench.test -test.run '^$' -test.bench "^BenchmarkTrainStep/cuda(-tf32)?/$m\$" -test.benchtime 200x -test.count 1) >"$out/bench-$m.log" 2>&1
	g=$(grep -E "BenchmarkTrainStep/cuda/$m" "$out/bench-$m.log" | grep -oE '[0-9.]+ img/s' | head -1 | awk '{printf "%.0f", $1}')
	g32=$(grep -E "BenchmarkTrainStep/cuda-tf32/$m" "$out/bench-$m.log" | grep -oE '[0-9.]+ img/s' | head -1 | awk '{printf "%.0f", $1}')
	p=""
	if command -v python3 >/dev/null && [ -f "$repo/bench/pytorch/step.py" ]; then
		p=$(cd "$repo" && timeout 60 python3 bench/pytorch/step.py --model $m --device cuda --batch 64 --warmup 10 --seconds 5 $(ptflags $m) 2>"$out/torch-$m.err" | tee "$out/torch-$m.json" | python3 -c 'import json,sys; print(round(json.load(sys.stdin).get("img_per_sec", 0)))' 2>/dev/null)
	fi
	best=$(printf '%s\n%s\n' "${g:-0}" "${g32:-0}" | sort -n | tail -1)
	if [ -z "$g" ] && [ -z "$g32" ]; then
		check "throughput $m" FAIL "no gotrain number (bench-$m.log: $(tail -3 "$out/bench-$m.log" | tr '\n' ' ' | head -c 200))"
	elif [ -n "$p" ] && [ "$p" != 0 ]; then
		r=$(awk -v g="$best" -v p="$p" 'BEGIN{printf "%.2f", g/p}')
		s=ok
		[ "$m" = seresnet ] && awk -v r="$r" 'BEGIN{exit !(r < 1)}' && s=FAIL
		check "throughput $m" $s "gotrain fp32 ${g:-?} img/s, tf32 ${g32:-?} img/s; PyTorch eager $p img/s: best ${r}x"
	else
		check "throughput $m" ok "gotrain fp32 ${g:-?} img/s, tf32 ${g32:-?} img/s (no PyTorch number: torch-$m.err)"
	fi
done

# 3. One epoch of the SE-ResNet on the GPU.
t0=$(date +%s)
timeout 150 "$kit/gotrain" -device cuda:0 -model seresnet -epochs 1 -data "$kit/mnist" -out "$out/seresnet-run" >"$out/train.log" 2>&1
rc=$?
acc=$(grep -oE 'best test acc [0-9.]+%' "$out/train.log" | awk '{print $4}')
if [ $rc = 0 ] && [ -n "$acc" ]; then
	check "train seresnet 1 epoch" ok "test acc $acc in $(secs $t0) s"
else
	check "train seresnet 1 epoch" FAIL "rc=$rc: $(tail -2 "$out/train.log" | tr '\n' ' ' | head -c 300)"
fi

# 4. The kernel lab: every conv, GEMM, norm, pool and elementwise variant
# checked against the CPU engine and timed against the mma.sync and copy
# peaks measured in the same run; the variant table it measured goes to
# OUT/variants.tsv (commit it as cuda/variants.tsv).
t0=$(date +%s)
(cd "$kit" && timeout 300 ./kernellab -write "$out/variants.tsv") >"$out/kernellab.log" 2>&1
rc=$?
line=$(grep -E '^kernellab: ' "$out/kernellab.log" | tail -1)
peaks=$(grep -E '^peaks measured now' "$out/kernellab.log" | cut -c21-)
[ $rc = 0 ] && check "kernel lab" ok "$line; $peaks ($(secs $t0) s)" || check "kernel lab" FAIL "rc=$rc: $(tail -2 "$out/kernellab.log" | tr '\n' ' ' | head -c 300)"

if [ $failed = 0 ]; then echo "VERDICT: PASS"; else echo "VERDICT: FAIL ($failed checks failed)"; fi
exit $((failed > 0))
