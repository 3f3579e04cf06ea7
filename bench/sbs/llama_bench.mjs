// llama_bench.mjs - llama.cpp's speed on a GGUF file, for the side-by-side
// comparison of bench/sbs/run.sh. It drives the llama.cpp library bundled
// with the node-llama-cpp package (CPU only), the way qwq-bench drives
// libqwq: pp = one batch of N random tokens evaluated after clearing the
// context, tg = N random tokens evaluated one at a time. As in llama-bench
// and in qwq-bench, the last token of every evaluation asks for its logits
// (and a greedy next token), so the output projection runs once per pp
// batch and once per tg token: llama.cpp skips it for tokens without
// logits, and evaluateWithoutGeneratingNewTokens requests none, which left
// the 5120 x 152064 output matrix (37% of the bytes a token reads on the
// 4-layer QwQ-32B shape) out of llama.cpp's decode.
//
//   node llama_bench.mjs MODEL.gguf pp|tg N RUNS THREADS
//
// Prints one line: "<test> median <tok/s> all <tok/s of each run>" after an
// untimed warm-up run. Node resolves the package from the script's own
// folder upwards, so run.sh runs a copy placed beside the install.
import { getLlama } from "node-llama-cpp";

const [, , modelPath, test, nArg, runsArg, threadsArg] = process.argv;
if (!modelPath || (test !== "pp" && test !== "tg")) {
    console.error("usage: node llama_bench.mjs MODEL.gguf pp|tg N RUNS THREADS");
    process.exit(2);
}
const n = Number(nArg ?? (test === "pp" ? 512 : 128));
const runs = Number(runsArg ?? 3);
const threads = Number(threadsArg ?? 2);

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });
const context = await model.createContext({ contextSize: Math.max(1024, n + 16), batchSize: Math.max(512, test === "pp" ? n : 1), threads, sequences: 1 });
const sequence = context.getSequence();

// the same kind of input as qwq-bench: uniform random ids below the
// vocabulary size of Qwen models (151,643 regular tokens)
function randomTokens(count, seed) {
    let s = seed >>> 0;
    const out = [];
    for (let i = 0; i < count; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        out.push(s % 150000);
    }
    return out;
}

const logit = { generateNext: { token: true } }; // logits and a greedy token for this one
const rates = [];
for (let r = 0; r <= runs; r++) {
    await sequence.clearHistory();
    const tokens = randomTokens(n, r + 1);
    const t0 = process.hrtime.bigint();
    if (test === "pp") await sequence.controlledEvaluate(tokens.map((t, i) => (i === n - 1 ? [t, logit] : t)));
    else for (const t of tokens) await sequence.controlledEvaluate([[t, logit]]);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r > 0) rates.push(n / seconds); // run 0 is the warm-up
}
const sorted = [...rates].sort((a, b) => a - b);
console.log(`${test}${n} median ${sorted[Math.floor(sorted.length / 2)].toFixed(2)} all ${rates.map((x) => x.toFixed(2)).join(" ")}`);
process.exit(0);
