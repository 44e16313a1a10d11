// One conversion, as timbre.convert's converter makes it: level matched to the model's training
// level, continued at both ends, log-spectrogram, tiles through the generator, blended, the
// input's phase, inverse STFT, the input's span at the input's level, peak-limited. The
// generator is handed in (ONNX Runtime Web in the page, anything in the tests), so this module
// runs in a Web Worker, in the page or in Node alike.

import {
  activeLevelDb,
  Blender,
  blendWindow,
  cutTile,
  invertLogSpectrogram,
  limitPeaks,
  logSpectrogram,
  padEdges,
  tileStarts,
} from "./dsp.js";

/** The gain in dB that brings an input at `levelDb` to the model's training level (0 if silent). */
export function inputGainDb(levelDb, model) {
  return Number.isFinite(levelDb) ? model.origin_level_db - levelDb : 0;
}

function scaled(audio, gainDb) {
  const gain = Math.fround(10 ** (gainDb / 20));
  const out = new Float32Array(audio.length);
  for (let i = 0; i < audio.length; i++) out[i] = audio[i] * gain;
  return out;
}

/**
 * Convert mono audio at the model's rate.
 *
 * @param {Float32Array} audio samples at model.spectrogram.sample_rate
 * @param {object} model an entry of models.json: spectrogram, origin_level_db, plan
 * @param {object} chain chain.json: the constants of timbre.dsp
 * @param {(tiles: Float32Array, count: number) => Promise<Float32Array>} generate tiles
 *   (count, n_bins, tile_frames) in [-1, 1] -> the same shape
 * @param {(done: number, total: number) => void} [onProgress] tiles done of all
 * @returns {Promise<object>} {audio, levelDb, gainDb, outputGainDb, limitedDb, tiles}
 */
export async function convert(audio, model, chain, generate, onProgress = () => {}) {
  if (!audio.length) throw new Error("the recording has no samples");
  const config = model.spectrogram;
  const { sample_rate: rate, n_bins: nBins, tile_frames: tileFrames } = config;
  const { overlap, context, batch_size: batchSize } = model.plan;
  const levelDb = activeLevelDb(audio, rate, chain.level);
  const gainDb = inputGainDb(levelDb, model);
  const edge = (context + 1) * config.hop_length; // TilingPlan.edge_samples
  const padded = padEdges(scaled(audio, gainDb), edge, rate, chain.edges);
  const { spec, phase, nFrames } = logSpectrogram(padded, config);
  const starts = tileStarts(nFrames, tileFrames, overlap);
  const window = blendWindow(tileFrames, overlap - 2 * context, context, chain.tiling.window_floor);
  const blender = new Blender(nBins, nFrames, tileFrames, window);
  const size = nBins * tileFrames;
  onProgress(0, starts.length);
  for (let i = 0; i < starts.length; i += batchSize) {
    const batch = starts.slice(i, i + batchSize);
    const tiles = new Float32Array(batch.length * size);
    batch.forEach((start, k) => cutTile(spec, nBins, nFrames, start, tileFrames, tiles, k * size));
    const out = await generate(tiles, batch.length);
    batch.forEach((start, k) => blender.add(out, start, k * size));
    onProgress(i + batch.length, starts.length);
  }
  const rebuilt = invertLogSpectrogram(blender.result(), phase, config, padded.length);
  const converted = rebuilt.slice(edge, edge + audio.length);
  const convertedDb = activeLevelDb(converted, rate, chain.level);
  const keep = chain.convert.keep_level && Number.isFinite(levelDb) && Number.isFinite(convertedDb);
  const outputGainDb = keep ? levelDb - convertedDb : 0;
  const limited = limitPeaks(scaled(converted, outputGainDb), rate, chain.limiter);
  return {
    audio: limited.audio,
    levelDb,
    gainDb,
    outputGainDb,
    limitedDb: limited.limitedDb,
    tiles: starts.length,
  };
}
