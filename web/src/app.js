// The page: pick a recording and a model, decode it with Web Audio at the model's rate (mixed
// to mono), convert it in the worker, show both spectrograms, play both, download the result.
// body[data-state] is "loading", "ready", "converting", "done" or "error" (the tests wait on it).

import { readWav, writeWav } from "./wav.js";

const $ = (id) => document.getElementById(id);
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
let models = [];
let chain = null;
let file = null;
const urls = []; // object URLs of the last conversion, revoked at the next

function setState(state, message) {
  document.body.dataset.state = state;
  if (message !== undefined) $("status").textContent = message;
}

function model() {
  return models.find((m) => m.name === $("model").value);
}

function showTargets() {
  const select = $("target");
  const { targets, labels } = model();
  select.replaceChildren(...targets.map((t, i) => new Option(labels[i], t)));
}

async function load() {
  [models, chain] = await Promise.all(
    ["models.json", "chain.json"].map((name) => fetch(name).then((r) => r.json())),
  );
  $("model").replaceChildren(...models.map((m) => new Option(`${m.name} (${m.origin} → ${m.labels.join(", ")})`, m.name)));
  showTargets();
  setState("ready", "Pick a recording.");
}

function pick(picked) {
  file = picked;
  $("file-name").textContent = picked.name;
  $("convert").disabled = false;
  setState("ready", `${picked.name}: ready to convert.`);
}

/** The file's samples at `rate`, mixed to mono: WAV read as Python reads it, other formats
 *  decoded by Web Audio; a file at another rate is resampled by Web Audio. */
async function decode(buffer, rate) {
  const wav = readWav(buffer);
  if (wav && wav.sampleRate === rate) return wav.samples;
  if (wav) return resample(wav.samples, wav.sampleRate, rate);
  const decoded = await new OfflineAudioContext(1, 1, rate).decodeAudioData(buffer);
  const mono = new Float32Array(decoded.length);
  for (let c = 0; c < decoded.numberOfChannels; c++) {
    const channel = decoded.getChannelData(c);
    for (let i = 0; i < mono.length; i++) mono[i] += channel[i];
  }
  if (decoded.numberOfChannels > 1) for (let i = 0; i < mono.length; i++) mono[i] /= decoded.numberOfChannels;
  return mono;
}

async function resample(samples, from, to) {
  const source = new AudioBuffer({ length: samples.length, numberOfChannels: 1, sampleRate: from });
  source.copyToChannel(samples, 0);
  const context = new OfflineAudioContext(1, Math.max(1, Math.round((samples.length * to) / from)), to);
  const node = new AudioBufferSourceNode(context, { buffer: source });
  node.connect(context.destination);
  node.start();
  return (await context.startRendering()).getChannelData(0);
}

const MAGMA = [ // a perceptual dark-to-light colour map: [position, r, g, b]
  [0, 0, 0, 4], [0.13, 28, 16, 68], [0.25, 79, 18, 123], [0.38, 129, 37, 129],
  [0.5, 181, 54, 122], [0.63, 229, 80, 100], [0.75, 251, 135, 97], [0.88, 254, 194, 135],
  [1, 252, 253, 191],
];

function colour(v) {
  const x = Math.min(Math.max((v + 1) / 2, 0), 1);
  let k = 1;
  while (k < MAGMA.length - 1 && MAGMA[k][0] < x) k++;
  const [p0, ...c0] = MAGMA[k - 1];
  const [p1, ...c1] = MAGMA[k];
  const t = (x - p0) / (p1 - p0);
  return c0.map((c, i) => c + (c1[i] - c) * t);
}

function draw(canvas, { data, columns, bins }) {
  canvas.width = columns;
  canvas.height = bins;
  const context = canvas.getContext("2d");
  const image = context.createImageData(columns, bins);
  for (let c = 0; c < columns; c++) {
    for (let b = 0; b < bins; b++) {
      const [r, g, bl] = colour(data[c * bins + b]);
      const at = ((bins - 1 - b) * columns + c) * 4; // low frequencies at the bottom
      image.data.set([r, g, bl, 255], at);
    }
  }
  context.putImageData(image, 0, 0);
}

function convertInWorker(audio, chosen, target) {
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === "progress") {
        $("progress").value = data.total ? data.done / data.total : 0;
        $("status").textContent = `Converting: ${data.done} of ${data.total} tiles…`;
      } else if (data.type === "done") resolve(data);
      else reject(new Error(data.message));
    };
    worker.postMessage({ type: "convert", audio, model: chosen, chain, target }, [audio.buffer]);
  });
}

async function run() {
  const chosen = model();
  const target = $("target").value;
  const rate = chosen.spectrogram.sample_rate;
  $("convert").disabled = true;
  $("progress").value = 0;
  setState("converting", `Decoding ${file.name}…`);
  const started = performance.now();
  try {
    const audio = await decode(await file.arrayBuffer(), rate);
    const decoded = performance.now();
    const seconds = audio.length / rate;
    const result = await convertInWorker(audio, chosen, target);
    const total = (performance.now() - started) / 1000;
    urls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    const outputUrl = URL.createObjectURL(new Blob(writeWav(result.audio, rate), { type: "audio/wav" }));
    const inputUrl = URL.createObjectURL(file);
    urls.push(outputUrl, inputUrl);
    $("input-audio").src = inputUrl;
    $("output-audio").src = outputUrl;
    $("download").href = outputUrl;
    $("download").download = `${file.name.replace(/\.[^.]*$/, "")}_${target}.wav`;
    $("output-caption").textContent = `Output (${target})`;
    draw($("input-spectrogram"), result.spectrograms[0]);
    draw($("output-spectrogram"), result.spectrograms[1]);
    $("results").hidden = false;
    const s = result.stats;
    window.timbreTiming = { seconds, total, decode: (decoded - started) / 1000, ...s };
    const limited = s.limitedDb < 0 ? `, peaks limited by ${(-s.limitedDb).toFixed(1)} dB` : "";
    setState(
      "done",
      `Converted ${seconds.toFixed(1)} s of audio in ${total.toFixed(1)} s ` +
        `(${s.tiles} tiles, ${s.threads} thread${s.threads > 1 ? "s" : ""}${limited}).`,
    );
    $("progress").value = 1;
  } catch (error) {
    setState("error", `${file.name}: ${error.message}`);
  } finally {
    $("convert").disabled = false;
  }
}

$("file").addEventListener("change", (e) => e.target.files.length && pick(e.target.files[0]));
$("drop").addEventListener("dragover", (e) => {
  e.preventDefault();
  $("drop").classList.add("over");
});
$("drop").addEventListener("dragleave", () => $("drop").classList.remove("over"));
$("drop").addEventListener("drop", (e) => {
  e.preventDefault();
  $("drop").classList.remove("over");
  if (e.dataTransfer.files.length) pick(e.dataTransfer.files[0]);
});
$("model").addEventListener("change", showTargets);
$("convert").addEventListener("click", run);
load().catch((error) => setState("error", `The page could not load its models: ${error.message}`));
