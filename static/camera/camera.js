// The camera half of the scanner pages (check-in at the door, leads at a sponsor's booth): the
// rear camera in a <video>, ten frames a second decoded by jsQR (static/vendor/jsqr/jsQR.js,
// loaded before the page's module as a classic script), and each QR reported once while it stays
// in view. Also the beep and buzz that say how a scan went.

const DECODE_EVERY = 100; // ms between decoded frames
const SAME_QR_PAUSE = 1500; // a QR held in view counts once; taken away this long, it counts again

// `onCode(text)` gets each new QR; no frame is decoded while `paused()` says so (a scan is being
// judged); `onError(message)` hears why the camera could not start.
export function qrCamera({ video, canvas, onCode, paused = () => false, onError = () => {} }) {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  let stream = null;
  let lastDecode = 0;
  let seen = { text: null, at: 0 };

  function stop() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
  }

  async function start() {
    stop();
    video.srcObject = null; // no last frame of the old stream to decode again
    seen = { text: null, at: 0 };
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: 'environment' } }, audio: false });
      video.srcObject = stream;
      await video.play();
      requestAnimationFrame(tick);
    } catch (err) {
      onError(err.message || err.name);
    }
  }

  function tick(now) {
    if (!stream || video.srcObject !== stream) return; // a restarted camera runs its own loop
    if (now - lastDecode > DECODE_EVERY && video.readyState >= 2 && !paused()) {
      lastDecode = now;
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      const code = window.jsQR(ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height, {
        inversionAttempts: 'dontInvert',
      });
      if (code && code.data) saw(code.data, now);
    }
    requestAnimationFrame(tick);
  }

  function saw(text, now) {
    const same = text === seen.text && now - seen.at < SAME_QR_PAUSE;
    seen = { text, at: now };
    if (!same) onCode(text);
  }

  return { start, stop };
}

let audio = null;

// A short high beep for a good scan, a long low buzz for a refused one.
export function feedback(good) {
  if (navigator.vibrate) navigator.vibrate(good ? 80 : [200, 100, 200]);
  try {
    audio = audio || new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = good ? 880 : 220;
    tone.type = good ? 'sine' : 'square';
    gain.gain.value = 0.15;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + (good ? 0.15 : 0.45));
  } catch {
    /* no sound: the colour still says it */
  }
}
