/*
 * The victim page's hashing worker: decodes, hashes and reports progress off the
 * page's thread, so the page stays responsive on a phone. Nothing here sends
 * anything anywhere: the worker gets a File and answers with hashes.
 *
 *   page --{id, file, video}--> worker --{id, stage, done}--> page (progress)
 *                                      --{id, result}------> page (hashes)
 */
"use strict";
importScripts("pdq.js", "vendor/hash-wasm/md5.umd.min.js", "vendor/hash-wasm/sha256.umd.min.js");

var CHUNK = 4 * 1024 * 1024; // files are read in pieces: a 2 GB video never sits in memory

async function digests(id, file) {
  var md5 = await self.hashwasm.createMD5();
  var sha = await self.hashwasm.createSHA256();
  md5.init();
  sha.init();
  for (var off = 0; off < file.size; off += CHUNK) {
    var piece = new Uint8Array(await file.slice(off, off + CHUNK).arrayBuffer());
    md5.update(piece);
    sha.update(piece);
    self.postMessage({ id: id, stage: "digest", done: Math.min(1, (off + CHUNK) / file.size) });
  }
  return { md5: md5.digest("hex"), sha256: sha.digest("hex") };
}

async function pixels(file) {
  var bitmap = await createImageBitmap(file, {
    imageOrientation: "from-image",
    colorSpaceConversion: "none",
  });
  try {
    var w = bitmap.width, h = bitmap.height;
    var canvas = new OffscreenCanvas(w, h);
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    return { data: ctx.getImageData(0, 0, w, h).data, width: w, height: h };
  } finally {
    bitmap.close();
  }
}

async function perceptual(id, file) {
  self.postMessage({ id: id, stage: "decode", done: 0 });
  var px = await pixels(file);
  var reading = self.JikimiPdq.flattenAlpha(px.data, px.width, px.height);
  self.postMessage({ id: id, stage: "pdq", done: 0.5 });
  var pdq = self.JikimiPdq.hashRGBA(px.data, px.width, px.height);
  return { pdq: pdq.hash, quality: pdq.quality, width: px.width, height: px.height, alpha: reading };
}

self.onmessage = async function (event) {
  var id = event.data.id, file = event.data.file, video = event.data.video;
  try {
    var result = await digests(id, file);
    if (!video) {
      try {
        Object.assign(result, await perceptual(id, file));
      } catch (err) {
        result.pdqError = String((err && err.message) || err); // a format this browser cannot decode
      }
    }
    self.postMessage({ id: id, result: result });
  } catch (err) {
    self.postMessage({ id: id, error: String((err && err.message) || err) });
  }
};
