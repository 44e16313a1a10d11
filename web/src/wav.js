// WAV files read and written as libsndfile (Python's soundfile) does, so the page sees the
// samples the Python converter sees: Chromium's own decoder scales positive 16-bit samples by
// 1/32767 and negative ones by 1/32768, which changes what the network makes of the quietest
// bins. Other formats (FLAC, MP3, OGG) are left to the browser's decoder.

const PCM = 1;
const FLOAT = 3;
const EXTENSIBLE = 0xfffe;

/**
 * The samples of a WAV file, mixed to mono as timbre.io.audio does (the channels' mean),
 * or null when `buffer` is not a WAV file this reader knows (PCM 8/16/24/32-bit, float 32/64).
 * @param {ArrayBuffer} buffer
 * @returns {{samples: Float32Array, sampleRate: number, channels: number} | null}
 */
export function readWav(buffer) {
  const view = new DataView(buffer);
  const tag = (offset) => String.fromCharCode(...new Uint8Array(buffer, offset, 4));
  if (buffer.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
  let format = null;
  for (let at = 12; at + 8 <= buffer.byteLength; ) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt " && size >= 16) {
      let code = view.getUint16(body, true);
      if (code === EXTENSIBLE && size >= 26) code = view.getUint16(body + 24, true);
      format = {
        code,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === "data" && format) {
      const length = Math.min(size, buffer.byteLength - body);
      return decodeData(view, body, length, format);
    }
    at = body + size + (size & 1);
  }
  return null;
}

function sampleReader(view, { code, bits }) {
  if (code === PCM && bits === 8) return (at) => (view.getUint8(at) - 128) / 128;
  if (code === PCM && bits === 16) return (at) => view.getInt16(at, true) / 32768;
  if (code === PCM && bits === 24) {
    return (at) => ((view.getUint8(at + 2) << 24) | (view.getUint8(at + 1) << 16) | (view.getUint8(at) << 8)) / 2147483648;
  }
  if (code === PCM && bits === 32) return (at) => view.getInt32(at, true) / 2147483648;
  if (code === FLOAT && bits === 32) return (at) => view.getFloat32(at, true);
  if (code === FLOAT && bits === 64) return (at) => view.getFloat64(at, true);
  return null;
}

function decodeData(view, offset, length, format) {
  const read = sampleReader(view, format);
  const { channels, sampleRate } = format;
  if (!read || !channels || !sampleRate) return null;
  const width = format.bits / 8;
  const frames = Math.floor(length / (width * channels));
  const samples = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let at = offset + i * width * channels;
    for (let c = 0; c < channels; c++, at += width) samples[i] += Math.fround(read(at));
  }
  if (channels > 1) for (let i = 0; i < frames; i++) samples[i] /= channels;
  return { samples, sampleRate, channels };
}

/** A 32-bit float mono WAV file. */
export function writeWav(samples, sampleRate) {
  const header = new DataView(new ArrayBuffer(44));
  const text = (offset, s) => [...s].forEach((ch, i) => header.setUint8(offset + i, ch.charCodeAt(0)));
  text(0, "RIFF");
  header.setUint32(4, 36 + samples.byteLength, true);
  text(8, "WAVE");
  text(12, "fmt ");
  header.setUint32(16, 16, true);
  header.setUint16(20, FLOAT, true);
  header.setUint16(22, 1, true);
  header.setUint32(24, sampleRate, true);
  header.setUint32(28, sampleRate * 4, true);
  header.setUint16(32, 4, true);
  header.setUint16(34, 32, true);
  text(36, "data");
  header.setUint32(40, samples.byteLength, true);
  return [header.buffer, samples.buffer.slice(samples.byteOffset, samples.byteOffset + samples.byteLength)];
}
