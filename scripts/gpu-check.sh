#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU from the folder that
# `make gpu-kit` fills (no Go, no network needed; python3 needed to read
# the results, PyTorch for its columns):
#
#   bin/gpu/gpu-check.sh [a|b|lab|prec|all] [OUT]
#
# Part a (under 6 minutes on an H100/H200): every cuda-tagged test (each
# kernel against the CPU engine with a verdict per kernel, every model's
# step, graphed steps against uncaptured ones, every model against
# PyTorch's fixtures), read from the test binaries' JSON events
# (-test.v=test2json through the kit's test2json); the training step of the
# SE-ResNet and the baseline for gotrain (CUDA graphs, and op by op), PyTorch
# eager and torch.compile(mode="reduce-overhead") on the same card, with
# the compile warm-up; and one SE-ResNet epoch, which fails below 98% test
# accuracy.
# Part b (under 6 minutes): the same step table for all seven models.
# Part lab (under 5 minutes): the kernel lab (cmd/kernellab), writing its
# variant table to OUT/variants.tsv.
# Part prec (under 3 minutes): issue 13's precision goals: two SE-ResNet
# epochs from the same seed at -precision tf32 and bf16 (bf16 stores the
# convolution operands in bfloat16), whose test accuracies must agree
# within 0.3 points; their device time per step (goal: under 6 ms in tf32)
# and the bf16/tf32 step-time ratio are printed as checks.
#
# Each model's recipe comes from `gotrain summary -model M -recipe`. Prints
# one line per check, the tables, and a verdict line; logs go under OUT
# (default ./gpu-out).
#
#   gpu-check.sh parse-tests FILE.json...   the test checks of test2json streams (tested on the CPU)
#   gpu-check.sh step-row MODEL DIR         one table row from a part's files in DIR (tested on the CPU)
#   gpu-check.sh prec-result DIR            part prec's checks from DIR's two runs (tested on the CPU)
set -uo pipefail
kit="$(cd "$(dirname "$0")" && pwd)"
failed=0
check() { # check NAME STATUS DETAIL
	printf '%-40s %-4s %s\n' "$1" "$2" "$3"
	[ "$2" = ok ] || [ "$2" = skip ] || failed=$((failed + 1))
}
secs() { echo $(($(date +%s) - $1)); }

# parse_tests FILE...: one "NAME STATUS DETAIL" line per test and subtest
# of test2json streams (Action pass/fail/skip; the detail is the test's
# last "ok ..." line, or its failure output), then, for parity.test, a line
# counting the kernels with a passing check ("gpu <kernel>: ok" verdicts).
parse_tests() {
	python3 - "$@" <<'EOF'
import json, re, sys
for path in sys.argv[1:]:
    out, status, order = {}, {}, []
    verdicts = {"ok": 0, "FAIL": []}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            t, a = ev.get("Test"), ev.get("Action")
            if a == "output":
                text = ev.get("Output", "")
                m = re.match(r"^(gpu|emulated) (\w+): (ok|FAIL)", text)
                if m:
                    if m.group(3) == "ok":
                        verdicts["ok"] += 1
                    else:
                        verdicts["FAIL"].append(m.group(2))
                if t:
                    out.setdefault(t, []).append(text)
            elif t and a in ("pass", "fail", "skip"):
                if t not in status:
                    order.append(t)
                status[t] = a
            elif t and a == "run" and t not in order:
                pass
    for t in order:
        a = status[t]
        lines = [l.strip() for l in out.get(t, [])]
        okl = [re.sub(r"^\S+_test\.go:\d+: ", "", l) for l in lines if re.search(r"_test\.go:\d+: (ok|gpu only)", l)]
        n = sum(1 for l in lines if re.search(r"_test\.go:\d+: ok ", l))
        if a == "pass":
            detail = "(%d checks) %s" % (n, okl[-1][:300] if okl else "")
        elif a == "skip":
            detail = next((re.sub(r"^\S+_test\.go:\d+: ", "", l) for l in lines if "_test.go" in l), "")[:300]
        else:
            bad = [l for l in lines if re.search(r"_test\.go:\d+: ", l) and not re.search(r": ok ", l)]
            detail = " | ".join(bad[-3:])[:300] or "failed"
        name = ("  " * t.count("/")) + t
        print("test %s\t%s\t%s" % (name, {"pass": "ok", "skip": "skip", "fail": "FAIL"}[a], detail.strip()))
    if verdicts["ok"] or verdicts["FAIL"]:
        st = "ok" if not verdicts["FAIL"] else "FAIL"
        d = "%d kernels" % verdicts["ok"] if st == "ok" else "%d without a passing check: %s" % (len(verdicts["FAIL"]), " ".join(verdicts["FAIL"][:8]))
        print("kernels checked\t%s\t%s" % (st, d))
EOF
}

# step_row MODEL DIR: one row of the step table from DIR's files:
# gotrain-MODEL/metrics.jsonl (a graphed one-epoch run: img/s, device ms and
# launches per step), bench-MODEL.log (bench.test: op-by-op steps, FP32 and
# TF32), torch-MODEL-eager.json and torch-MODEL-compiled.json (step.py).
step_row() {
	python3 - "$1" "$2" <<'EOF'
import json, os, re, sys
model, d = sys.argv[1], sys.argv[2]
def last_json(path):
    try:
        with open(path) as f:
            lines = [l for l in f if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None
m = last_json(os.path.join(d, "gotrain-%s" % model, "metrics.jsonl"))
bench = {}
try:
    for line in open(os.path.join(d, "bench-%s.log" % model)):
        r = re.match(r"BenchmarkTrainStep/(cuda(?:-tf32)?)/%s(?:-\d+)?\s.*?([\d.]+) img/s" % re.escape(model), line)
        if r:
            bench[r.group(1)] = float(r.group(2))
except OSError:
    pass
eager = last_json(os.path.join(d, "torch-%s-eager.json" % model))
comp = last_json(os.path.join(d, "torch-%s-compiled.json" % model))
def ips(j):
    return j["img_per_sec"] if j and j.get("available") and j.get("img_per_sec") else None
g = m["images_per_sec"] if m else None
e, c = ips(eager), ips(comp)
fmt = lambda v: "%.0f" % v if v else "n/a"
ratio = lambda a, b: "%.2fx" % (a / b) if a and b else "n/a"
cols = [model, fmt(g)]
if m and m.get("device_ms_per_step") and g:
    wall = 1000.0 * 64 / g  # batch-64 steps
    cols += ["%.2f" % m["device_ms_per_step"], "%.3g" % m.get("launches_per_step", 0),
             "%.0f%%" % max(0.0, 100 * (1 - m["device_ms_per_step"] / wall))]
else:
    cols += ["n/a", "n/a", "n/a"]
cols += [fmt(bench.get("cuda-tf32")), fmt(bench.get("cuda")), fmt(e), fmt(c),
         "%.0f" % comp["warmup_seconds"] if comp and comp.get("available") else "n/a",
         ratio(g, e), ratio(g, c)]
print("| " + " | ".join(cols) + " |")
EOF
}

step_header() {
	echo "| model | gotrain graphed img/s | device ms/step | launches/step | host share of step | gotrain op-by-op TF32 img/s | op-by-op FP32 img/s | PyTorch eager img/s | torch.compile img/s | compile warm-up s | gotrain/eager | gotrain/compiled |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
}

# recipe_flags MODEL: step.py's optimizer flags from gotrain's recipe.
recipe_flags() {
	"$kit/gotrain" summary -model "$1" -recipe | python3 -c '
import json, sys
r = json.load(sys.stdin)
f = ["--optimizer", r["optimizer"], "--lr", repr(r["lr"]), "--momentum", repr(r["momentum"]), "--weight-decay", repr(r["weight_decay"])]
if r["nesterov"]:
    f.append("--nesterov")
print(" ".join(f))'
}

# measure MODEL OUT STEPS BUDGET: the step table's files for MODEL: a
# graphed gotrain epoch of STEPS batch-64 steps, bench.test's op-by-op
# steps, PyTorch eager and compiled (TF32 allowed, as gotrain runs); the
# compiled run is skipped once the part has run BUDGET seconds.
measure() {
	local m=$1 out=$2 steps=$3 budget=$4
	rm -rf "$out/gotrain-$m"
	timeout 120 "$kit/gotrain" -device cuda:0 -model "$m" -epochs 1 -batch-size 64 -limit-train $((steps * 64)) -limit-test 1000 \
		-data "$kit/mnist" -out "$out/gotrain-$m" >"$out/gotrain-$m.log" 2>&1 || check "gotrain $m" FAIL "$(tail -2 "$out/gotrain-$m.log" | tr '\n' ' ' | head -c 300)"
	(cd "$kit" && timeout 60 ./bench.test -test.run '^$' -test.bench "^BenchmarkTrainStep/cuda(-tf32)?/$m\$" -test.benchtime 50x -test.count 1) >"$out/bench-$m.log" 2>&1
	command -v python3 >/dev/null || return
	local flags
	flags=$(recipe_flags "$m") || return
	for mode in eager compiled; do
		if [ $mode = compiled ] && [ "$(secs "$part_start")" -gt "$budget" ]; then
			echo '{"available": false, "reason": "time budget"}' >"$out/torch-$m-$mode.json"
			continue
		fi
		# shellcheck disable=SC2086
		timeout 90 python3 "$kit/pytorch/step.py" --model "$m" --mode $mode --device cuda --batch 64 --tf32 --warmup 5 --seconds 3 $flags \
			>"$out/torch-$m-$mode.json" 2>"$out/torch-$m-$mode.err"
	done
}

# run_tests OUT: every GPU test binary through test2json.
run_tests() {
	local out=$1 t0
	t0=$(date +%s)
	for bin in parity cuda models; do
		local args=(-test.v=test2json -test.count=1 -test.timeout 150s)
		[ $bin = models ] && args+=(-test.run '^TestTorchModelsCUDA$')
		(cd "$kit" && timeout 160 ./$bin.test "${args[@]}" 2>&1 | ./test2json -t -p $bin) >"$out/$bin-test.json"
		local rc=${PIPESTATUS[0]}
		while IFS=$'\t' read -r name st detail; do check "$name" "$st" "$detail"; done < <(parse_tests "$out/$bin-test.json")
		grep -qE '"Action":"(pass|fail)"' "$out/$bin-test.json" || check "$bin.test" FAIL "no test results (rc=$rc): see $bin-test.json"
		[ "$rc" = 0 ] || check "$bin.test exit" FAIL "rc=$rc: see $bin-test.json"
	done
	echo "  (tests took $(secs "$t0") s)"
}

part_a() {
	local out=$1
	part_start=$(date +%s)
	run_tests "$out"
	# Where a batch-64 SE-ResNet step's device time goes (informational).
	(cd "$kit" && GOTRAIN_PROFILE=1 timeout 60 ./parity.test -test.v -test.run '^TestProfileSEResNet$') >"$out/profile.log" 2>&1
	grep -E 'profile tf32' "$out/profile.log" | sed 's/^ *models_test.go:[0-9]*: /  /'
	for m in seresnet baseline; do measure "$m" "$out" 200 200; done
	step_header
	for m in seresnet baseline; do step_row "$m" "$out"; done
	for m in seresnet baseline; do
		[ -s "$out/gotrain-$m/metrics.jsonl" ] && check "gotrain graphed $m" ok "$(step_row "$m" "$out" | cut -d'|' -f3-5 | tr -s ' ')" || check "gotrain graphed $m" FAIL "no metrics (gotrain-$m.log)"
	done
	# One SE-ResNet epoch, the recipe's: fails below 98% test accuracy.
	local t0 acc
	t0=$(date +%s)
	rm -rf "$out/seresnet-run"
	timeout 150 "$kit/gotrain" -device cuda:0 -model seresnet -epochs 1 -data "$kit/mnist" -out "$out/seresnet-run" >"$out/train.log" 2>&1
	local rc=$?
	acc=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["test_acc"])' "$out/seresnet-run/metrics.jsonl" 2>/dev/null)
	if [ $rc = 0 ] && [ -n "$acc" ] && awk -v a="$acc" 'BEGIN{exit !(a >= 0.98)}'; then
		check "train seresnet 1 epoch" ok "test acc $acc in $(secs "$t0") s: $(grep -E '^epoch 1/' "$out/train.log" | head -1 | cut -c1-300)"
	else
		check "train seresnet 1 epoch" FAIL "rc=$rc, test acc ${acc:-?} (98% needed): $(tail -2 "$out/train.log" | tr '\n' ' ' | head -c 300)"
	fi
	echo "  (part a took $(secs "$part_start") s)"
}

# prec_result DIR: part prec's check lines ("NAME<TAB>STATUS<TAB>DETAIL")
# from DIR/prec-tf32/metrics.jsonl and DIR/prec-bf16/metrics.jsonl: the
# last epoch's test accuracies within 0.3 points, tf32's device ms per
# step under 6 (the last epoch's), and bf16's step time against tf32's.
prec_result() {
	python3 - "$1" <<'EOF'
import json, os, sys
d = sys.argv[1]
def last(p):
    try:
        with open(os.path.join(d, "prec-%s" % p, "metrics.jsonl")) as f:
            rows = [json.loads(l) for l in f if l.strip().startswith("{")]
        return rows[-1] if rows else None
    except (OSError, ValueError):
        return None
t, b = last("tf32"), last("bf16")
if not t or not b:
    print("precision runs\tFAIL\tno metrics for %s" % " and ".join(p for p, r in (("tf32", t), ("bf16", b)) if not r))
    sys.exit()
ta, ba = 100 * t["test_acc"], 100 * b["test_acc"]
diff = abs(ta - ba)
print("seresnet bf16 vs tf32 accuracy\t%s\tepoch %d: tf32 %.2f%%, bf16 %.2f%%, %.2f points apart (0.3 allowed)" %
      ("ok" if diff <= 0.3 else "FAIL", t["epoch"], ta, ba, diff))
tm, bm = t.get("device_ms_per_step"), b.get("device_ms_per_step")
if tm:
    print("seresnet tf32 step kernel time\t%s\t%.2f ms of device time per batch-64 step (goal: under 6)" % ("ok" if tm < 6 else "FAIL", tm))
if tm and bm:
    print("seresnet bf16 step kernel time\tok\t%.2f ms per step, %.2fx tf32's" % (bm, tm / bm))
EOF
}

# part_prec OUT: two SE-ResNet epochs from seed 1 at tf32 and at bf16.
part_prec() {
	local out=$1 t0 p
	t0=$(date +%s)
	for p in tf32 bf16; do
		rm -rf "$out/prec-$p"
		timeout 150 "$kit/gotrain" -device cuda:0 -model seresnet -epochs 2 -seed 1 -precision $p -data "$kit/mnist" \
			-out "$out/prec-$p" >"$out/prec-$p.log" 2>&1 || check "train seresnet $p" FAIL "$(tail -2 "$out/prec-$p.log" | tr '\n' ' ' | head -c 300)"
	done
	while IFS=$'\t' read -r name st detail; do check "$name" "$st" "$detail"; done < <(prec_result "$out")
	echo "  (part prec took $(secs "$t0") s)"
}

part_b() {
	local out=$1
	part_start=$(date +%s)
	local models="baseline resnet lightresnet seresnet vgg googlenet vit"
	for m in $models; do measure "$m" "$out" 100 240; done
	step_header
	for m in $models; do step_row "$m" "$out"; done
	for m in $models; do
		[ -s "$out/gotrain-$m/metrics.jsonl" ] && check "gotrain graphed $m" ok "" || check "gotrain graphed $m" FAIL "no metrics (gotrain-$m.log)"
	done
	echo "  (part b took $(secs "$part_start") s)"
}

# The kernel lab (its own part, under 5 minutes): every conv, GEMM, norm,
# pool and elementwise variant checked against the CPU engine and timed
# against the mma.sync and copy peaks measured in the same run; the variant
# table it measured goes to OUT/variants.tsv (commit it as
# cuda/variants.tsv).
part_lab() {
	local out=$1 t0 rc line peaks
	t0=$(date +%s)
	(cd "$kit" && timeout 300 ./kernellab -write "$out/variants.tsv") >"$out/kernellab.log" 2>&1
	rc=$?
	line=$(grep -E '^kernellab: ' "$out/kernellab.log" | tail -1)
	peaks=$(grep -E '^peaks measured now' "$out/kernellab.log" | cut -c21-)
	[ $rc = 0 ] && check "kernel lab" ok "$line; $peaks ($(secs $t0) s)" || check "kernel lab" FAIL "rc=$rc: $(tail -2 "$out/kernellab.log" | tr '\n' ' ' | head -c 300)"
}

case "${1:-all}" in
parse-tests)
	shift
	parse_tests "$@"
	exit
	;;
step-row)
	step_row "$2" "$3"
	exit
	;;
prec-result)
	prec_result "$2"
	exit
	;;
a | b | lab | prec | all)
	part=${1:-all}
	out="${2:-gpu-out}"
	;;
*)
	part=all
	out="$1"
	;;
esac
mkdir -p "$out"
echo "gpu-check: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
command -v python3 >/dev/null || check "python3" FAIL "python3 is needed to read the results"
case $part in
a) part_a "$out" ;;
b) part_b "$out" ;;
lab) part_lab "$out" ;;
prec) part_prec "$out" ;;
all)
	part_a "$out"
	part_b "$out"
	part_lab "$out"
	part_prec "$out"
	;;
esac
if [ $failed = 0 ]; then echo "VERDICT: PASS"; else echo "VERDICT: FAIL ($failed checks failed)"; fi
exit $((failed > 0))
