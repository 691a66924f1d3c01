/*
 * PDQ perceptual hash (256 bits) in plain JavaScript, for hashing on the victim's
 * own device: her photos never leave it, only these hashes do.
 *
 * A port of the PDQ reference algorithm (Meta's ThreatExchange, pdq/cpp: hashing
 * and downscaling), licensed as below. Every step keeps the reference's 32-bit
 * float arithmetic (Math.fround after each operation) so the bits equal the
 * reference's for the same pixels, and it prepares pixels as the reference's
 * command-line tool does and the jikimi server does: a picture with a side over
 * 512 px is first sampled nearest-neighbour to 512 x 512. Without that step the
 * reference's own published hashes are not reproduced (up to 10 bits off).
 *
 * ----------------------------------------------------------------------------
 * The PDQ algorithm and the reference code this follows:
 * Copyright (c) Meta Platforms, Inc. and affiliates.
 * BSD License
 *
 * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions are met:
 *
 *  * Redistributions of source code must retain the above copyright notice, this
 *    list of conditions and the following disclaimer.
 *  * Redistributions in binary form must reproduce the above copyright notice,
 *    this list of conditions and the following disclaimer in the documentation
 *    and/or other materials provided with the distribution.
 *  * Neither the name Facebook nor the names of its contributors may be used to
 *    endorse or promote products derived from this software without specific
 *    prior written permission.
 *
 * THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS" AND
 * ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE IMPLIED
 * WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
 * DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE FOR
 * ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES
 * (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES;
 * LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON
 * ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT
 * (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS
 * SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
 * ----------------------------------------------------------------------------
 */
(function (root) {
  "use strict";
  var f32 = Math.fround;

  var REFERENCE_SIDE = 512; // the reference CLI's DOWNSAMPLE_DIMS
  var MIN_HASHABLE_DIM = 5;
  var JAROSZ_PASSES = 2;
  var LUMA_R = f32(0.299);
  var LUMA_G = f32(0.587);
  var LUMA_B = f32(0.114);

  // 16 x 64 DCT matrix, rows 1..16 of DCT-II (the DC row is skipped), as floats.
  var DCT = (function () {
    var d = new Float32Array(16 * 64);
    var scale = f32(Math.sqrt(2.0 / 64.0));
    for (var i = 0; i < 16; i++) {
      for (var j = 0; j < 64; j++) {
        d[i * 64 + j] = scale * Math.cos((Math.PI / 2.0 / 64.0) * (i + 1) * (2 * j + 1));
      }
    }
    return d;
  })();

  /** RGBA pixels (w x h) to the reference's pixels: sampled to 512 x 512 if a side is over 512. */
  function referenceResize(rgba, width, height) {
    if (width <= REFERENCE_SIDE && height <= REFERENCE_SIDE) {
      return { data: rgba, width: width, height: height };
    }
    var out = new Uint8ClampedArray(REFERENCE_SIDE * REFERENCE_SIDE * 4);
    var cols = new Int32Array(REFERENCE_SIDE);
    for (var c = 0; c < REFERENCE_SIDE; c++) cols[c] = Math.floor((c * width) / REFERENCE_SIDE);
    for (var r = 0; r < REFERENCE_SIDE; r++) {
      var row = Math.floor((r * height) / REFERENCE_SIDE) * width;
      for (var k = 0; k < REFERENCE_SIDE; k++) {
        var src = (row + cols[k]) * 4;
        var dst = (r * REFERENCE_SIDE + k) * 4;
        out[dst] = rgba[src];
        out[dst + 1] = rgba[src + 1];
        out[dst + 2] = rgba[src + 2];
        out[dst + 3] = 255;
      }
    }
    return { data: out, width: REFERENCE_SIDE, height: REFERENCE_SIDE };
  }

  /** Float luminance of RGBA pixels, as the reference's fillFloatLumaFromRGB. */
  function luma(rgba, width, height) {
    var n = width * height;
    var out = new Float32Array(n);
    for (var i = 0, p = 0; i < n; i++, p += 4) {
      out[i] = f32(f32(f32(LUMA_R * rgba[p]) + f32(LUMA_G * rgba[p + 1])) + f32(LUMA_B * rgba[p + 2]));
    }
    return out;
  }

  function windowSize(oldDim, newDim) {
    return Math.floor((oldDim + 2 * newDim - 1) / (2 * newDim));
  }

  function box1D(input, output, offset, length, stride, fullWindow) {
    var half = Math.floor((fullWindow + 2) / 2);
    var p1 = half - 1;
    var p2 = fullWindow - half + 1;
    var p3 = length - fullWindow;
    var p4 = half - 1;
    var li = offset, ri = offset, oi = offset;
    var sum = 0.0, count = 0, i;
    for (i = 0; i < p1; i++) { sum = f32(sum + input[ri]); count++; ri += stride; }
    for (i = 0; i < p2; i++) {
      sum = f32(sum + input[ri]); count++;
      output[oi] = sum / count;
      ri += stride; oi += stride;
    }
    for (i = 0; i < p3; i++) {
      sum = f32(sum + input[ri]);
      sum = f32(sum - input[li]);
      output[oi] = sum / count;
      li += stride; ri += stride; oi += stride;
    }
    for (i = 0; i < p4; i++) {
      sum = f32(sum - input[li]); count--;
      output[oi] = sum / count;
      li += stride; oi += stride;
    }
  }

  function jarosz(buf1, buf2, rows, cols, winAlongRows, winAlongCols) {
    for (var pass = 0; pass < JAROSZ_PASSES; pass++) {
      for (var i = 0; i < rows; i++) box1D(buf1, buf2, i * cols, cols, 1, winAlongRows);
      for (var j = 0; j < cols; j++) box1D(buf2, buf1, j, rows, cols, winAlongCols);
    }
  }

  function decimate(input, rows, cols) {
    var out = new Float32Array(64 * 64);
    for (var oi = 0; oi < 64; oi++) {
      var ii = Math.floor(((oi + 0.5) * rows) / 64);
      for (var oj = 0; oj < 64; oj++) {
        var ij = Math.floor(((oj + 0.5) * cols) / 64);
        out[oi * 64 + oj] = input[ii * cols + ij];
      }
    }
    return out;
  }

  function quality(b) {
    var sum = 0, i, j, d;
    for (i = 0; i < 63; i++) {
      for (j = 0; j < 64; j++) {
        d = Math.trunc(f32(f32(f32(b[i * 64 + j] - b[(i + 1) * 64 + j]) * 100) / 255));
        sum += Math.abs(d);
      }
    }
    for (i = 0; i < 64; i++) {
      for (j = 0; j < 63; j++) {
        d = Math.trunc(f32(f32(f32(b[i * 64 + j] - b[i * 64 + j + 1]) * 100) / 255));
        sum += Math.abs(d);
      }
    }
    return Math.min(100, Math.floor(sum / 90));
  }

  function dct64To16(a) {
    var t = new Float32Array(16 * 64);
    var out = new Float32Array(16 * 16);
    var i, j, k, s;
    for (i = 0; i < 16; i++) {
      for (j = 0; j < 64; j++) {
        s = 0.0;
        for (k = 0; k < 64; k++) s = f32(s + f32(DCT[i * 64 + k] * a[k * 64 + j]));
        t[i * 64 + j] = s;
      }
    }
    for (i = 0; i < 16; i++) {
      for (j = 0; j < 16; j++) {
        s = 0.0;
        for (k = 0; k < 64; k++) s = f32(s + f32(t[i * 64 + k] * DCT[j * 64 + k]));
        out[i * 16 + j] = s;
      }
    }
    return out;
  }

  /** 256 bits as the reference's Hash256::format writes them: word 15 first, 4 hex digits each. */
  function toHex(dct) {
    var sorted = Array.prototype.slice.call(dct).sort(function (x, y) { return x - y; });
    var median = sorted[127]; // torben's median of 256 values: the 128th smallest
    var words = new Uint16Array(16);
    for (var k = 0; k < 256; k++) {
      if (dct[k] > median) words[k >> 4] |= 1 << (k & 15);
    }
    var hex = "";
    for (var w = 15; w >= 0; w--) hex += ("000" + words[w].toString(16)).slice(-4);
    return hex;
  }

  /** PDQ of a float luminance image (rows x cols): {hash, quality}. */
  function fromLuma(lum, width, height) {
    if (width < MIN_HASHABLE_DIM || height < MIN_HASHABLE_DIM) {
      return { hash: "0".repeat(64), quality: 0 };
    }
    var b64;
    if (width === 64 && height === 64) {
      b64 = Float32Array.from(lum);
    } else {
      var buf1 = Float32Array.from(lum);
      var buf2 = new Float32Array(buf1.length);
      jarosz(buf1, buf2, height, width, windowSize(width, 64), windowSize(height, 64));
      b64 = decimate(buf1, height, width);
    }
    return { hash: toHex(dct64To16(b64)), quality: quality(b64) };
  }

  /** PDQ of opaque RGBA pixels as decoded at full size (alpha already flattened). */
  function hashRGBA(rgba, width, height) {
    var ref = referenceResize(rgba, width, height);
    return fromLuma(luma(ref.data, ref.width, ref.height), ref.width, ref.height);
  }

  // --- transparency: the server's rule (media/image.py, _flatten_alpha) ------------
  //
  // Three readings of a picture with transparent pixels: its stored colours
  // (alpha dropped), over a white page, over a black page. The one with the most
  // detail (mean luminance gradient on a thumbnail of at most ~256 px) wins, ties
  // in that order, so a picture drawn only in its alpha channel is never hashed blank.

  var DETAIL_SIDE = 256;

  function hasTransparency(rgba) {
    for (var p = 3; p < rgba.length; p += 4) if (rgba[p] !== 255) return true;
    return false;
  }

  function thumbnail(rgba, width, height) {
    var f = Math.max(1, Math.floor(Math.max(width, height) / DETAIL_SIDE));
    var tw = Math.ceil(width / f), th = Math.ceil(height / f);
    var out = new Float32Array(tw * th * 4);
    for (var ty = 0; ty < th; ty++) {
      for (var tx = 0; tx < tw; tx++) {
        var r = 0, g = 0, b = 0, a = 0, n = 0;
        for (var y = ty * f; y < Math.min(height, ty * f + f); y++) {
          for (var x = tx * f; x < Math.min(width, tx * f + f); x++) {
            var p = (y * width + x) * 4, al = rgba[p + 3];
            // premultiplied averaging, as Pillow's reduce() does for RGBA
            r += rgba[p] * al; g += rgba[p + 1] * al; b += rgba[p + 2] * al; a += al; n++;
          }
        }
        var q = (ty * tw + tx) * 4;
        out[q] = a ? r / a : 0; out[q + 1] = a ? g / a : 0; out[q + 2] = a ? b / a : 0;
        out[q + 3] = a / n;
      }
    }
    return { data: out, width: tw, height: th };
  }

  function detail(t, page) {
    var w = t.width, h = t.height, d = t.data;
    var gray = new Float32Array(w * h);
    for (var i = 0; i < w * h; i++) {
      var op = d[i * 4 + 3] / 255, m = (d[i * 4] + d[i * 4 + 1] + d[i * 4 + 2]) / 3;
      gray[i] = page === null ? m : m * op + page * (1 - op);
    }
    var sy = 0, sx = 0, x, y;
    for (y = 0; y + 1 < h; y++) for (x = 0; x < w; x++) sy += Math.abs(gray[(y + 1) * w + x] - gray[y * w + x]);
    for (y = 0; y < h; y++) for (x = 0; x + 1 < w; x++) sx += Math.abs(gray[y * w + x + 1] - gray[y * w + x]);
    var ny = (h - 1) * w, nx = h * (w - 1);
    return (ny ? sy / ny : 0) + (nx ? sx / nx : 0);
  }

  /** Flatten transparency in place by the server's rule; returns the reading chosen. */
  function flattenAlpha(rgba, width, height) {
    if (!hasTransparency(rgba)) return "opaque";
    var t = thumbnail(rgba, width, height);
    var readings = [null, 255, 0];
    var best = null, bestDetail = -1;
    for (var i = 0; i < readings.length; i++) {
      var v = detail(t, readings[i]);
      if (v > bestDetail) { bestDetail = v; best = readings[i]; }
    }
    for (var p = 0; p < rgba.length; p += 4) {
      if (best !== null) {
        var a = rgba[p + 3];
        rgba[p] = Math.round((rgba[p] * a + best * (255 - a)) / 255);
        rgba[p + 1] = Math.round((rgba[p + 1] * a + best * (255 - a)) / 255);
        rgba[p + 2] = Math.round((rgba[p + 2] * a + best * (255 - a)) / 255);
      }
      rgba[p + 3] = 255;
    }
    return best === null ? "stored" : best === 255 ? "white" : "black";
  }

  var api = {
    hashRGBA: hashRGBA,
    fromLuma: fromLuma,
    luma: luma,
    referenceResize: referenceResize,
    flattenAlpha: flattenAlpha,
    hamming: function (a, b) {
      var d = 0;
      for (var i = 0; i < a.length; i++) {
        var x = parseInt(a[i], 16) ^ parseInt(b[i], 16);
        while (x) { d += x & 1; x >>= 1; }
      }
      return d;
    },
  };
  root.JikimiPdq = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(typeof self !== "undefined" ? self : globalThis);
