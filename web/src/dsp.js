// The signal chain of timbre.dsp, ported to the browser: the same arithmetic in the same
// order (float64 where Python computes in float64), so that a conversion here matches the
// Python converter's. Every setting (level gates, limiter, edge prediction, tiling, the
// spectrogram) comes from chain.json and models.json, which `timbre web` writes from the
// Python modules; what is spelt here are the guards the Python code spells inline (1e-12,
// 1e-30, float32's tiny). tests/web/ compares each function with its Python original (in
// Node) and a whole conversion (in Chromium).

// --- FFT ---------------------------------------------------------------------------------

const plans = new Map(); // n -> {bits, cos, sin}: bit-reversal and twiddles of a radix-2 FFT

function fftPlan(n) {
  let plan = plans.get(n);
  if (!plan) {
    if (n & (n - 1)) throw new Error(`FFT size ${n} is not a power of two`);
    const bits = new Uint32Array(n);
    for (let i = 0, j = 0; i < n; i++) {
      bits[i] = j;
      let bit = n >> 1;
      for (; j & bit; bit >>= 1) j ^= bit;
      j |= bit;
    }
    const cos = new Float64Array(n / 2);
    const sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      cos[k] = Math.cos((2 * Math.PI * k) / n);
      sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    plan = { bits, cos, sin };
    plans.set(n, plan);
  }
  return plan;
}

/** In-place complex FFT of (re, im), length a power of two; `inverse` without the 1/n. */
export function fft(re, im, inverse = false) {
  const n = re.length;
  const { bits, cos, sin } = fftPlan(n);
  for (let i = 0; i < n; i++) {
    const j = bits[i];
    if (j > i) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  const sign = inverse ? 1 : -1;
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const stride = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * stride];
        const wi = sign * sin[k * stride];
        const a = start + k;
        const b = a + half;
        const tr = re[b] * wr - im[b] * wi;
        const ti = re[b] * wi + im[b] * wr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}

// --- STFT (timbre.dsp.stft) ----------------------------------------------------------------

/** The periodic Hann window (hann_window). */
export function hannWindow(nFft) {
  const w = new Float64Array(nFft);
  for (let i = 0; i < nFft; i++) w[i] = 0.5 + 0.5 * Math.cos(-Math.PI + (2 * Math.PI * i) / nFft);
  return w;
}

/** 2 / sum(window): a full-scale sinusoid's STFT peak -> 1 (magnitude_scale). */
export function magnitudeScale(nFft) {
  return 2 / hannWindow(nFft).reduce((a, b) => a + b, 0);
}

export function nFramesFor(nSamples, config) {
  return 1 + Math.floor(nSamples / config.hop_length);
}

/** Normalised log-magnitude and phase of the lowest n_bins bins (log_spectrogram).
 *  Returns {spec, phase, nFrames}: Float32Arrays frame-major (frame * n_bins + bin). */
export function logSpectrogram(audio, config) {
  const { n_fft: nFft, hop_length: hop, n_bins: nBins } = config;
  const half = nFft >> 1;
  const nFrames = nFramesFor(audio.length, config);
  const window = hannWindow(nFft);
  const scale = magnitudeScale(nFft);
  const spec = new Float32Array(nFrames * nBins);
  const phase = new Float32Array(nFrames * nBins);
  const re = new Float64Array(nFft);
  const im = new Float64Array(nFft);
  for (let f = 0; f < nFrames; f++) {
    const first = f * hop - half; // centred frames over the signal zero-padded by n_fft / 2
    for (let i = 0; i < nFft; i++) {
      const t = first + i;
      re[i] = t >= 0 && t < audio.length ? audio[t] * window[i] : 0;
      im[i] = 0;
    }
    fft(re, im);
    for (let b = 0; b < nBins; b++) {
      const r = Math.fround(re[b]); // complex64, as NumPy's stft returns
      const m = Math.fround(im[b]);
      spec[f * nBins + b] = Math.fround(Math.hypot(r, m)) * scale;
      phase[f * nBins + b] = Math.atan2(m, r);
    }
  }
  normaliseInPlace(spec, config);
  return { spec, phase, nFrames };
}

/** Scaled magnitude -> log-compressed values in [-1, 1] (normalise), in place. */
export function normaliseInPlace(values, config) {
  const amin = config.amin;
  const top = Math.log1p(1 / amin);
  for (let i = 0; i < values.length; i++) {
    const unit = Math.min(Math.max(Math.log1p(values[i] / amin) / top, 0), 1);
    values[i] = unit * 2 - 1;
  }
  return values;
}

/** Inverse of normaliseInPlace (denormalise), in place. */
export function denormaliseInPlace(values, config) {
  const amin = config.amin;
  const top = Math.log1p(1 / amin);
  for (let i = 0; i < values.length; i++) {
    const unit = (Math.min(Math.max(values[i], -1), 1) + 1) / 2;
    values[i] = amin * Math.expm1(unit * top);
  }
  return values;
}

/** (normalised log-magnitude, phase), frame-major -> audio of `length` samples
 *  (invert_log_spectrogram: windowed inverse FFTs overlap-added, divided by the summed
 *  squared window wherever that exceeds float32's tiny). */
export function invertLogSpectrogram(spec, phase, config, length) {
  const { n_fft: nFft, hop_length: hop, n_bins: nBins } = config;
  const half = nFft >> 1;
  const nFrames = spec.length / nBins;
  const scale = magnitudeScale(nFft);
  const window = Float32Array.from(hannWindow(nFft));
  const magnitude = denormaliseInPlace(Float32Array.from(spec), config);
  const padded = half + length + nFft;
  const sum = new Float64Array(padded);
  const weight = new Float64Array(padded);
  const re = new Float64Array(nFft);
  const im = new Float64Array(nFft);
  const count = Math.min(nFrames, Math.ceil((length + 2 * half) / hop));
  for (let f = 0; f < count; f++) {
    re.fill(0);
    im.fill(0);
    for (let b = 0; b < nBins; b++) {
      const m = Math.fround(magnitude[f * nBins + b] / scale);
      const p = phase[f * nBins + b];
      re[b] = Math.fround(m * Math.fround(Math.cos(p)));
      im[b] = Math.fround(m * Math.fround(Math.sin(p)));
      if (b > 0) {
        re[nFft - b] = re[b]; // Hermitian: the real inverse FFT of the half spectrum
        im[nFft - b] = -im[b];
      }
    }
    fft(re, im, true);
    const start = f * hop;
    for (let i = 0; i < nFft; i++) {
      sum[start + i] += Math.fround(Math.fround(re[i] / nFft) * window[i]);
      weight[start + i] += window[i] * window[i];
    }
  }
  const tiny = 1.1754943508222875e-38;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const w = weight[half + i];
    out[i] = sum[half + i] / (w > tiny ? w : 1);
  }
  return out;
}

// --- Tiles (timbre.dsp.tiling) -------------------------------------------------------------

/** First frame of each tile covering nFrames frames (tile_starts). */
export function tileStarts(nFrames, tileFrames, overlap) {
  if (nFrames === 0) return [];
  if (nFrames <= tileFrames) return [0];
  const starts = [];
  for (let s = 0; s < nFrames - tileFrames; s += tileFrames - overlap) starts.push(s);
  starts.push(nFrames - tileFrames);
  return starts;
}

/** Blend weights of one tile (blend_window). */
export function blendWindow(tileFrames, fadeFrames, contextFrames, floor) {
  const fade = Math.min(fadeFrames, Math.floor(tileFrames / 2) - contextFrames);
  const w = new Float64Array(tileFrames);
  for (let i = 0; i < tileFrames; i++) {
    const distance = Math.min(i, tileFrames - 1 - i) - contextFrames;
    const ramp = fade > 0 ? (distance + 0.5) / fade : 1;
    w[i] = Math.min(Math.max(ramp, floor), 1);
  }
  return w;
}

/** One tile (n_bins x tile_frames, bin-major as the network takes it) cut from a frame-major
 *  spectrogram at `start`; frames past the end are silence (-1). */
export function cutTile(spec, nBins, nFrames, start, tileFrames, into, offset = 0) {
  for (let b = 0; b < nBins; b++) {
    for (let t = 0; t < tileFrames; t++) {
      const f = start + t;
      into[offset + b * tileFrames + t] = f < nFrames ? spec[f * nBins + b] : -1;
    }
  }
}

/** Overlap-adds tiles into a frame-major spectrogram, normalised by the summed window (blend). */
export class Blender {
  constructor(nBins, nFrames, tileFrames, window) {
    Object.assign(this, { nBins, nFrames, tileFrames, window });
    const total = Math.max(nFrames, tileFrames);
    this.summed = new Float64Array(total * nBins);
    this.weights = new Float64Array(total);
  }

  add(tile, start, offset = 0) {
    const { nBins, tileFrames, window } = this;
    for (let t = 0; t < tileFrames; t++) {
      const f = start + t;
      for (let b = 0; b < nBins; b++) {
        const v = Math.min(Math.max(tile[offset + b * tileFrames + t], -1), 1); // generate's clip
        this.summed[f * nBins + b] += v * window[t];
      }
      this.weights[f] += window[t];
    }
  }

  result() {
    const { nBins, nFrames } = this;
    const out = new Float32Array(nFrames * nBins);
    for (let f = 0; f < nFrames; f++) {
      const w = Math.max(this.weights[f], 1e-12);
      for (let b = 0; b < nBins; b++) out[f * nBins + b] = this.summed[f * nBins + b] / w;
    }
    return out;
  }
}

// --- Edges (timbre.dsp.edges) --------------------------------------------------------------

/** Coefficients a[1:] of the linear predictor for autocorrelation `lags` (_levinson_durbin). */
export function levinsonDurbin(lags) {
  const order = lags.length - 1;
  const a = new Float64Array(order + 1);
  a[0] = 1;
  let error = lags[0];
  const previous = new Float64Array(order + 1);
  for (let k = 1; k <= order; k++) {
    let dot = 0;
    for (let j = 0; j < k; j++) dot += a[j] * lags[k - j];
    const reflection = -dot / error;
    previous.set(a.subarray(0, k));
    for (let j = 1; j <= k; j++) a[j] += reflection * previous[k - j];
    error *= 1 - reflection * reflection;
  }
  return a.subarray(1);
}

/** The next `count` samples after `history` (oldest first) by linear prediction (extrapolate). */
export function extrapolate(history, count, sampleRate, edges) {
  const n = history.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += history[i];
  mean = n ? mean / n : 0;
  const seg = new Float64Array(n);
  let energy = 0;
  let peak = 0;
  for (let i = 0; i < n; i++) {
    seg[i] = history[i] - mean;
    energy += seg[i] * seg[i];
    peak = Math.max(peak, Math.abs(seg[i]));
  }
  const order = Math.min(Math.max(1, roundHalfEven(edges.order_s * sampleRate)), Math.floor(n / 4));
  const out = new Float32Array(count);
  if (order < 2 || energy <= 1e-20 * Math.max(1, n)) return out.fill(mean);
  // autocorrelation of the symmetric-Hann-windowed segment (Python takes it by FFT)
  const windowed = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    windowed[i] = seg[i] * (n === 1 ? 1 : 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)));
  }
  const lags = new Float64Array(order + 1);
  for (let k = 0; k <= order; k++) {
    let s = 0;
    for (let i = 0; i + k < n; i++) s += windowed[i] * windowed[i + k];
    lags[k] = s;
  }
  lags[0] *= 1 + 1e-9;
  const a = levinsonDurbin(lags);
  const ahead = new Float64Array(order + count);
  ahead.set(seg.subarray(n - order));
  for (let t = 0; t < count; t++) {
    let s = 0;
    for (let j = 0; j < order; j++) s -= a[order - 1 - j] * ahead[t + j];
    ahead[order + t] = s;
  }
  const limit = 2 * peak;
  for (let t = 0; t < count; t++) out[t] = Math.min(Math.max(ahead[order + t], -limit), limit) + mean;
  return out;
}

/** `audio` continued at both ends by `pad` samples of linear prediction (pad_edges). */
export function padEdges(audio, pad, sampleRate, edges) {
  const out = new Float32Array(audio.length + 2 * pad);
  out.set(audio, pad);
  if (!pad) return out;
  const fit = Math.min(audio.length, Math.max(1, roundHalfEven(edges.fit_s * sampleRate)));
  const head = audio.slice(0, fit).reverse();
  out.set(extrapolate(head, pad, sampleRate, edges).reverse(), 0);
  out.set(extrapolate(audio.slice(audio.length - fit), pad, sampleRate, edges), pad + audio.length);
  return out;
}

// --- Level (timbre.dsp.level) --------------------------------------------------------------

/** Python's round(): halves to even. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** NumPy's default (linear) percentile of sorted values. */
function percentileSorted(sorted, q) {
  const position = ((sorted.length - 1) * q) / 100;
  const low = Math.floor(position);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (position - low);
}

/** The active level in dBFS: a gated median of 400 ms block RMS levels (active_level_db). */
export function activeLevelDb(audio, sampleRate, level) {
  const step = Math.max(1, roundHalfEven(level.step_s * sampleRate));
  const span = Math.max(1, roundHalfEven(level.block_s / level.step_s));
  const chunks = Math.floor(audio.length / step);
  const sums = new Float64Array(chunks);
  let total = 0;
  for (let c = 0; c < chunks; c++) {
    let s = 0;
    for (let i = c * step; i < (c + 1) * step; i++) s += audio[i] * audio[i];
    sums[c] = s;
    total += s;
  }
  for (let i = chunks * step; i < audio.length; i++) total += audio[i] * audio[i];
  let powers;
  if (chunks < span) {
    powers = [audio.length ? total / audio.length : 0];
  } else {
    powers = [];
    const running = new Float64Array(chunks + 1);
    for (let c = 0; c < chunks; c++) running[c + 1] = running[c] + sums[c];
    for (let c = span; c <= chunks; c++) powers.push((running[c] - running[c - span]) / (span * step));
  }
  const levels = powers
    .map((p) => 10 * Math.log10(Math.max(p, 1e-30)))
    .filter((l) => l > level.floor_db)
    .sort((a, b) => a - b);
  if (!levels.length) return -Infinity;
  const loud = percentileSorted(levels, level.loud_percentile);
  const active = levels.filter((l) => l >= loud - level.gate_db);
  return percentileSorted(active, 50);
}

/** The look-ahead peak limiter (PeakLimiter) on a whole signal: returns {audio, limitedDb}. */
export function limitPeaks(audio, sampleRate, limiter) {
  const width = Math.max(1, roundHalfEven(limiter.ramp_s * sampleRate));
  const size = 2 * width + 1;
  const n = audio.length;
  const needs = new Float64Array(n + 4 * width).fill(1);
  let lowest = 1;
  for (let i = 0; i < n; i++) {
    needs[2 * width + i] = Math.min(1, limiter.ceiling / Math.max(Math.abs(audio[i]), 1e-30));
    lowest = Math.min(lowest, needs[2 * width + i]);
  }
  if (lowest >= 1) return { audio, limitedDb: 0 };
  const floor = runningMinima(needs, size);
  const out = new Float32Array(n);
  const sums = new Float64Array(floor.length + 1); // running sum: the minima's moving average
  for (let i = 0; i < floor.length; i++) sums[i + 1] = sums[i] + floor[i];
  let deepest = 1;
  for (let i = 0; i < n; i++) {
    const average = (sums[i + size] - sums[i]) / size;
    const gain = average > 1 - 1e-9 ? 1 : average;
    deepest = Math.min(deepest, gain);
    out[i] = gain < 1 ? audio[i] * gain : audio[i];
  }
  return { audio: out, limitedDb: 20 * Math.log10(deepest) };
}

/** min(values[i .. i + size)) for each full window (_window_minima, van Herk/Gil-Werman). */
function runningMinima(values, size) {
  const count = values.length - size + 1;
  const blocks = Math.ceil(values.length / size);
  const fromStart = new Float64Array(blocks * size);
  const toEnd = new Float64Array(blocks * size);
  for (let b = 0; b < blocks; b++) {
    let m = Infinity;
    for (let i = b * size; i < (b + 1) * size; i++) fromStart[i] = m = Math.min(m, i < values.length ? values[i] : Infinity);
    m = Infinity;
    for (let i = (b + 1) * size - 1; i >= b * size; i--) toEnd[i] = m = Math.min(m, i < values.length ? values[i] : Infinity);
  }
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.min(toEnd[i], fromStart[i + size - 1]);
  return out;
}
