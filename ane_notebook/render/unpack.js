// ane_notebook: unpack scripts stored LZMA-compressed and base85-encoded in the page.
//
// An LZMA ("lzma-alone", as Python's lzma.FORMAT_ALONE writes it) decoder after Igor Pavlov's
// public-domain reference decoder (LzmaSpec.cpp in the LZMA SDK), synchronous so a page can
// unpack BokehJS in <head> and carry on exactly as if the scripts had been inline.
// `size` (the unpacked length) is passed in, so the output buffer is the whole window.
"use strict";
window.__aneUnpack = (function () {
  function decode(src, size) {
    let pos = 13; // props (1) + dictionary size (4) + unpacked size (8)
    const d = src[0];
    const lc = d % 9, lp = Math.floor(d / 9) % 5, pb = Math.floor(d / 45);
    const out = new Uint8Array(size);
    let op = 0;
    let range = 0xffffffff, code = 0;
    if (src[pos++] !== 0) throw new Error("lzma: bad stream");
    for (let i = 0; i < 4; i++) code = ((code << 8) | src[pos++]) >>> 0;
    const probs = (n) => new Uint16Array(n).fill(1024);
    function bit(p, i) {
      const bound = (range >>> 11) * p[i];
      let b;
      if (code < bound) { p[i] += (2048 - p[i]) >>> 5; range = bound; b = 0; }
      else { p[i] -= p[i] >>> 5; code -= bound; range -= bound; b = 1; }
      if (range < 0x1000000) { range = (range * 256) >>> 0; code = ((code * 256) + src[pos++]) >>> 0; }
      return b;
    }
    function direct(n) {
      let r = 0;
      for (let i = 0; i < n; i++) {
        range >>>= 1;
        let b = 0;
        if (code >= range) { code -= range; b = 1; }
        r = r * 2 + b;
        if (range < 0x1000000) { range = (range * 256) >>> 0; code = ((code * 256) + src[pos++]) >>> 0; }
      }
      return r;
    }
    function tree(p, base, n) {
      let m = 1;
      for (let i = 0; i < n; i++) m = (m << 1) + bit(p, base + m);
      return m - (1 << n);
    }
    function reverse(p, base, n) {
      let m = 1, s = 0;
      for (let i = 0; i < n; i++) { const b = bit(p, base + m); m = (m << 1) + b; s |= b << i; }
      return s;
    }
    function lenCoder() { return { c: probs(2), low: probs(16 << 3), mid: probs(16 << 3), high: probs(256) }; }
    function len(L, ps) {
      if (bit(L.c, 0) === 0) return tree(L.low, ps << 3, 3);
      if (bit(L.c, 1) === 0) return 8 + tree(L.mid, ps << 3, 3);
      return 16 + tree(L.high, 0, 8);
    }
    const lit = probs(0x300 << (lc + lp));
    const isMatch = probs(12 << 4), isRep = probs(12), isRepG0 = probs(12), isRepG1 = probs(12);
    const isRepG2 = probs(12), isRep0Long = probs(12 << 4);
    const posSlot = probs(4 << 6), posDec = probs(1 + 114), align = probs(16);
    const lenDec = lenCoder(), repLenDec = lenCoder();
    const pbMask = (1 << pb) - 1, lpMask = (1 << lp) - 1;
    let state = 0, rep0 = 0, rep1 = 0, rep2 = 0, rep3 = 0;
    while (op < size) {
      const ps = op & pbMask;
      if (bit(isMatch, (state << 4) + ps) === 0) {
        const prev = op > 0 ? out[op - 1] : 0;
        const base = 0x300 * (((op & lpMask) << lc) + (prev >>> (8 - lc)));
        let sym = 1;
        if (state >= 7) {
          let mb = out[op - rep0 - 1];
          do {
            const m = (mb >>> 7) & 1;
            mb <<= 1;
            const b = bit(lit, base + ((1 + m) << 8) + sym);
            sym = (sym << 1) | b;
            if (m !== b) break;
          } while (sym < 0x100);
        }
        while (sym < 0x100) sym = (sym << 1) | bit(lit, base + sym);
        out[op++] = sym - 0x100;
        state = state < 4 ? 0 : state < 10 ? state - 3 : state - 6;
        continue;
      }
      let n;
      if (bit(isRep, state) !== 0) {
        if (op === 0) throw new Error("lzma: bad stream");
        if (bit(isRepG0, state) === 0) {
          if (bit(isRep0Long, (state << 4) + ps) === 0) {
            state = state < 7 ? 9 : 11;
            out[op] = out[op - rep0 - 1];
            op++;
            continue;
          }
        } else {
          let dist;
          if (bit(isRepG1, state) === 0) dist = rep1;
          else {
            if (bit(isRepG2, state) === 0) dist = rep2;
            else { dist = rep3; rep3 = rep2; }
            rep2 = rep1;
          }
          rep1 = rep0; rep0 = dist;
        }
        n = len(repLenDec, ps);
        state = state < 7 ? 8 : 11;
      } else {
        rep3 = rep2; rep2 = rep1; rep1 = rep0;
        n = len(lenDec, ps);
        state = state < 7 ? 7 : 10;
        const ls = n < 3 ? n : 3;
        const slot = tree(posSlot, ls << 6, 6);
        if (slot < 4) rep0 = slot;
        else {
          const nd = (slot >>> 1) - 1;
          let dist = (2 | (slot & 1)) * 2 ** nd;
          if (slot < 14) dist += reverse(posDec, dist - slot, nd);
          else dist += direct(nd - 4) * 16 + reverse(align, 0, 4);
          rep0 = dist;
        }
        if (rep0 === 0xffffffff) break; // end marker
        if (rep0 >= op) throw new Error("lzma: bad distance");
      }
      n += 2;
      if (op + n > size) throw new Error("lzma: output overrun");
      for (let k = 0; k < n; k++) { out[op] = out[op - rep0 - 1]; op++; }
    }
    if (op !== size) throw new Error("lzma: stream ended early");
    return out;
  }
  // Base85 as Python's base64.b85encode writes it (RFC 1924 alphabet), with "&", "<" and ">"
  // written as ".", "," and ":" so the text needs no escaping in HTML or in an attribute.
  const ALPHABET =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%.()*+-;,=:?@^_`{|}~";
  const DIGIT = new Int8Array(128).fill(-1);
  for (let i = 0; i < 85; i++) DIGIT[ALPHABET.charCodeAt(i)] = i;
  function base85(s) {
    const n = s.length, full = Math.floor(n / 5), rest = n % 5;
    if (rest === 1) throw new Error("base85: bad length");
    const out = new Uint8Array(full * 4 + (rest ? rest - 1 : 0));
    let o = 0;
    for (let g = 0; g * 5 < n; g++) {
      let acc = 0;
      for (let k = 0; k < 5; k++) {
        const i = g * 5 + k;
        const d = i < n ? DIGIT[s.charCodeAt(i) & 127] : 84; // a short group is padded with "~"
        if (d < 0 || (i < n && s.charCodeAt(i) > 127)) throw new Error("base85: bad character");
        acc = acc * 85 + d;
      }
      const m = Math.min(4, out.length - o);
      for (let k = 0; k < m; k++) out[o++] = Math.floor(acc / 2 ** (24 - 8 * k)) & 255;
    }
    return out;
  }
  // The text held by the <script type="application/x-ane-lzma"> element `id`: base85 of an
  // .lzma stream, with its unpacked byte length in data-size. The element is emptied.
  function text(id) {
    const el = document.getElementById(id);
    const src = base85(el.textContent.trim());
    el.textContent = "";
    return new TextDecoder().decode(decode(src, Number(el.dataset.size)));
  }
  // Run the scripts packed in element `id` (data-parts: their lengths in UTF-16 code units), in
  // order, each as an inline <script> inserted after it: inserted scripts run synchronously.
  function unpack(id) {
    const el = document.getElementById(id);
    const parts = el.dataset.parts.split(",").map(Number);
    const all = text(id);
    let at = 0;
    let anchor = el;
    for (const n of parts) {
      const s = document.createElement("script");
      s.textContent = all.slice(at, at + n);
      at += n;
      anchor.after(s);
      anchor = s;
    }
  }
  // Unpack element `id` into the text of element `into` (bokeh's document JSON, read later).
  unpack.into = function (id, into) {
    document.getElementById(into).textContent = text(id);
  };
  unpack.decode = decode;
  unpack.base85 = base85;
  return unpack;
})();
