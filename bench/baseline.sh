#!/usr/bin/env bash
# The baseline's batch-64 training step on the CPU: gotrain's Go benchmark and
# PyTorch (Debian's python3-torch, same thread count) in one run, side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-$(nproc)}
py=${PYTHON:-/usr/bin/python3}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
go_out=$(GOMAXPROCS=$threads go test ./bench/ -run '^$' -bench 'TrainStepCPU/baseline' -benchtime 5s -count 3)
echo "$go_out" | grep Benchmark
go_ips=$(echo "$go_out" | awk '/Benchmark/ { for (i=1;i<=NF;i++) if ($(i+1)=="img/s") { s+=$i; n++ } } END { if (n) printf "%.0f", s/n }')
if "$py" -c 'import torch' 2>/dev/null; then
	py_json=$("$py" bench/pytorch/baseline_step.py --threads "$threads" --seconds 5)
	echo "$py_json"
	py_ips=$(echo "$py_json" | sed -n 's/.*"img_per_sec": \([0-9.]*\).*/\1/p')
	printf '\n%-10s %-8s %8s %14s %16s %8s\n' model device threads "gotrain img/s" "pytorch img/s" ratio
	printf '%-10s %-8s %8d %14.0f %16.0f %7.2fx\n' baseline cpu "$threads" "$go_ips" "$py_ips" "$(echo "$go_ips / $py_ips" | bc -l)"
else
	echo "PyTorch not found for $py (Debian: apt-get install python3-torch): gotrain only: $go_ips img/s"
fi
