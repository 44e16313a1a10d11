// Runs one function of the page's port (web/src/) on arrays the Python tests wrote, so
// tests/web/test_port.py can compare it with its Python original without a browser.
// Usage: node port.mjs JOB.json   (JOB: {fn, args, inputs: {name: path of raw float32}, output})
// Writes {name: [values...]} as JSON to JOB.output.

import { readFileSync, writeFileSync } from "node:fs";
import { convert } from "../../web/src/chain.js";
import * as dsp from "../../web/src/dsp.js";
import { readWav } from "../../web/src/wav.js";

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const inputs = Object.fromEntries(
  Object.entries(job.inputs || {}).map(([name, path]) => {
    const bytes = readFileSync(path);
    return [name, new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)];
  }),
);
const a = job.args || {};

async function run() {
  switch (job.fn) {
    case "logSpectrogram": {
      const { spec, phase } = dsp.logSpectrogram(inputs.audio, a.config);
      return { spec, phase };
    }
    case "invertLogSpectrogram":
      return { audio: dsp.invertLogSpectrogram(inputs.spec, inputs.phase, a.config, a.length) };
    case "padEdges":
      return { audio: dsp.padEdges(inputs.audio, a.pad, a.rate, a.chain.edges) };
    case "activeLevelDb":
      return { level: [dsp.activeLevelDb(inputs.audio, a.rate, a.chain.level)] };
    case "limitPeaks":
      return { audio: dsp.limitPeaks(inputs.audio, a.rate, a.chain.limiter).audio };
    case "tileStarts":
      return { starts: dsp.tileStarts(a.n_frames, a.tile_frames, a.overlap) };
    case "blendWindow":
      return { window: dsp.blendWindow(a.tile_frames, a.fade, a.context, a.chain.tiling.window_floor) };
    case "readWav": {
      const bytes = readFileSync(a.path);
      const wav = readWav(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      return wav ? { samples: wav.samples, rate: [wav.sampleRate], channels: [wav.channels] } : {};
    }
    case "convert": { // the whole chain with an affine stand-in for the generator
      const generate = async (tiles) => tiles.map((v) => a.scale * v + a.offset);
      const result = await convert(inputs.audio, a.model, a.chain, generate);
      return { audio: result.audio, level: [result.levelDb], gain: [result.outputGainDb] };
    }
    default:
      throw new Error(`unknown function ${job.fn}`);
  }
}

const out = await run();
const plain = Object.fromEntries(
  Object.entries(out).map(([k, v]) => [k, Array.from(v, (x) => (Number.isFinite(x) ? x : String(x)))]),
);
writeFileSync(job.output, JSON.stringify(plain));
