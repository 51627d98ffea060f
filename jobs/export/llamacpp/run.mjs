// llama.cpp itself (node-llama-cpp's prebuilt CPU binary) loading GGUF files and answering for Adapta's verification.
//
//   echo '{"files": [{"model": "out/planets-Q8_0.gguf", "sequences": [[1, 2, 3]], "prompts": [[1, 2]], "max_new_tokens": 16}]}' \
//     | node jobs/export/llamacpp/run.mjs
//
// Reads one JSON request on stdin and writes one JSON answer on stdout, {"ok": true, "results": [...]}, one result per file:
//   teacher_forced[i][j]  the greedy (top-1) next token after sequences[i][0..j], for every position j
//   greedy[i]             max_new_tokens tokens continued greedily from prompts[i] (not stopped at end-of-generation)
//   tokenized[i]          llama.cpp's token ids for texts[i] (special tokens parsed, no BOS added)
// A file llama.cpp refuses gives {"ok": false, "stage": "load", "error": "...", "log": [...]} for that file; the others go on.
// One process for several files: loading the library costs seconds, each tiny file a fraction of one.
// Called by jobs/export/gguf_llamacpp.py; installed by `make install-dev` (npm ci in this folder).

import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const request = JSON.parse(readFileSync(0, "utf8"));
const threads = request.threads ?? 1;
let logs = [];

function greedyOptions() {
    return { generateNext: { token: true, options: { temperature: 0 } } };
}

async function teacherForced(sequence, tokens) {
    await sequence.clearHistory();
    const results = await sequence.controlledEvaluate(tokens.map((token) => [token, greedyOptions()]));
    return tokens.map((_, index) => results[index]?.next?.token ?? null);
}

async function continueGreedily(sequence, prompt, maxNewTokens) {
    await sequence.clearHistory();
    const generated = [];
    let input = prompt.map((token, index) => (index === prompt.length - 1 ? [token, greedyOptions()] : token));
    while (generated.length < maxNewTokens) {
        const results = await sequence.controlledEvaluate(input);
        const next = results[input.length - 1]?.next?.token;
        if (next === undefined || next === null) break;
        generated.push(next);
        input = [[next, greedyOptions()]];
    }
    return generated;
}

async function check(llama, file) {
    logs = [];
    const started = performance.now();
    const sequences = file.sequences ?? [];
    const prompts = file.prompts ?? [];
    const maxNewTokens = file.max_new_tokens ?? 16;
    let model;
    try {
        model = await llama.loadModel({ modelPath: file.model, gpuLayers: 0, useMmap: true });
    } catch (error) {
        return { ok: false, stage: "load", error: String(error?.message ?? error), log: logs.slice(-40) };
    }
    try {
        const loadSeconds = (performance.now() - started) / 1000;
        const longest = Math.max(16, ...sequences.map((tokens) => tokens.length), ...prompts.map((tokens) => tokens.length + maxNewTokens));
        const context = await model.createContext({ contextSize: longest + 8, batchSize: longest + 8, sequences: 1, threads });
        const sequence = context.getSequence();
        const teacher = [];
        for (const tokens of sequences) teacher.push(await teacherForced(sequence, tokens));
        const greedy = [];
        for (const tokens of prompts) greedy.push(await continueGreedily(sequence, tokens, maxNewTokens));
        const tokenized = (file.texts ?? []).map((text) => model.tokenize(text, true));
        await context.dispose();
        return { ok: true, load_seconds: loadSeconds, seconds: (performance.now() - started) / 1000, train_context: model.trainContextSize,
                 teacher_forced: teacher, greedy, tokenized, log: logs.slice(-40) };
    } catch (error) {
        return { ok: false, stage: "evaluate", error: String(error?.message ?? error), log: logs.slice(-40) };
    } finally {
        await model.dispose();
    }
}

let llama;
try {
    llama = await getLlama({
        gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false, skipDownload: true, maxThreads: threads,
        logLevel: LlamaLogLevel.warn, logger: (level, message) => logs.push(`${level}: ${message.trim()}`),
    });
} catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, stage: "binary", error: String(error?.message ?? error), log: logs }) + "\n");
    process.exit(4);
}
const results = [];
for (const file of request.files ?? []) results.push(await check(llama, file));
process.stdout.write(JSON.stringify({ ok: true, binary: llama.buildType, results }) + "\n");
process.exit(0);
