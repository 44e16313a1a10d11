// The Web Worker that converts: ONNX Runtime Web runs the generator, chain.js does the rest,
// so the page stays responsive however long the recording.
//
// In:  {type: "convert", audio (Float32Array at the model's rate), model (a models.json entry),
//       chain (chain.json), target}
// Out: {type: "progress", done, total} per batch of tiles, then
//      {type: "done", audio, stats, spectrograms} or {type: "error", message}.

import * as ort from "./ort/ort.wasm.min.mjs";
import { convert } from "./chain.js";
import { logSpectrogram } from "./dsp.js";

ort.env.wasm.wasmPaths = new URL("./ort/", import.meta.url).href;
const THREADS = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
ort.env.wasm.numThreads = THREADS;
const DISPLAY_FRAMES = 1024; // spectrogram columns sent to the page (frames max-pooled)

const sessions = new Map(); // model name -> InferenceSession

async function session(model) {
  if (!sessions.has(model.name)) {
    const url = new URL(model.onnx, new URL("./", import.meta.url)).href;
    sessions.set(
      model.name,
      ort.InferenceSession.create(url, {
        executionProviders: ["wasm"],
        graphOptimizationLevel: "all",
      }),
    );
  }
  return sessions.get(model.name);
}

function generator(sess, model, target) {
  const { n_bins: nBins, tile_frames: tileFrames } = model.spectrogram;
  const [inputName, conditionName] = sess.inputNames;
  const which = model.targets.indexOf(target);
  return async (tiles, count) => {
    const feeds = { [inputName]: new ort.Tensor("float32", tiles, [count, nBins, tileFrames, 1]) };
    if (model.multi_target) {
      const oneHot = new Float32Array(count * model.targets.length);
      for (let k = 0; k < count; k++) oneHot[k * model.targets.length + which] = 1;
      feeds[conditionName] = new ort.Tensor("float32", oneHot, [count, model.targets.length]);
    }
    const results = await sess.run(feeds);
    return results[sess.outputNames[0]].data;
  };
}

/** A spectrogram for the page: at most DISPLAY_FRAMES columns, each the max of its frames. */
function display(audio, config) {
  const { spec, nFrames } = logSpectrogram(audio, config);
  const nBins = config.n_bins;
  const columns = Math.min(nFrames, DISPLAY_FRAMES);
  const out = new Float32Array(columns * nBins).fill(-1);
  for (let f = 0; f < nFrames; f++) {
    const c = Math.floor((f * columns) / nFrames);
    for (let b = 0; b < nBins; b++) {
      out[c * nBins + b] = Math.max(out[c * nBins + b], spec[f * nBins + b]);
    }
  }
  return { data: out, columns, bins: nBins, seconds: audio.length / config.sample_rate };
}

self.onmessage = async ({ data }) => {
  if (data.type !== "convert") return;
  try {
    const { audio, model, chain, target } = data;
    const started = performance.now();
    const sess = await session(model);
    const loaded = performance.now();
    const result = await convert(audio, model, chain, generator(sess, model, target), (done, total) =>
      self.postMessage({ type: "progress", done, total }),
    );
    const converted = performance.now();
    const spectrograms = [display(audio, model.spectrogram), display(result.audio, model.spectrogram)];
    const stats = {
      levelDb: result.levelDb,
      gainDb: result.gainDb,
      outputGainDb: result.outputGainDb,
      limitedDb: result.limitedDb,
      tiles: result.tiles,
      threads: THREADS,
      loadSeconds: (loaded - started) / 1000,
      convertSeconds: (converted - loaded) / 1000,
    };
    self.postMessage({ type: "done", audio: result.audio, stats, spectrograms }, [result.audio.buffer]);
  } catch (error) {
    self.postMessage({ type: "error", message: String(error && error.message ? error.message : error) });
  }
};
