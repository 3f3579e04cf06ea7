#!/bin/sh
# The script behind `make demo`: generates (once) a tiny random-weight Qwen2
# model with qwq-gen and runs the command-line program on it, so a fresh
# clone shows the whole path (load, tokenize, chat markup, forward pass,
# sampling, streaming) without downloading anything.
#
#   sh examples/demo.sh [BUILD_DIR]      (default: build)
set -e

build=${1:-build}
gen="$build/bin/qwq-gen"
run="$build/bin/qwq-run"
model="$build/models/tiny-q8_0.gguf"
prompt="Why is the sky blue?"

for tool in "$gen" "$run"; do
    if [ ! -x "$tool" ]; then
        echo "demo: $tool is missing; build it first with: make" >&2
        exit 1
    fi
done

if [ ! -f "$model" ]; then
    mkdir -p "$build/models"
    echo "demo: generating a tiny random-weight model: $model"
    "$gen" --preset tiny --type q8_0 -o "$model"
fi

cat <<EOF

=====================================================================
 NOTE: $model has RANDOM weights (4 layers, hidden 256,
 a 1,152-token vocabulary). Everything below runs for real, but the
 generated text is gibberish: there is nothing the model has learned.
=====================================================================

\$ $run -m $model -p "$prompt" -n 64
EOF

"$run" -m "$model" -p "$prompt" -n 64

cat <<EOF

---------------------------------------------------------------------
 To run a real model, download a Qwen GGUF file, for example
 qwq-32b-q4_k_m.gguf (about 20 GB; 24 GB of RAM) from Qwen/QwQ-32B-GGUF
 on Hugging Face, or a small one such as a Qwen3-0.6B or
 Qwen2.5-0.5B-Instruct GGUF, and point the same command at it:

   $run -m qwq-32b-q4_k_m.gguf -p "$prompt"

 $run --help lists the sampling and chat options.
 Random-weight models of the real shapes (for benchmarks) come from
 qwq-gen, e.g.:
   $gen --preset qwq-32b --type q4_K_M -o qwq-32b-random.gguf
---------------------------------------------------------------------
EOF
