/*
 * utf8.c — strict UTF-8 scanning and the streaming decoder.
 *
 * Well-formed UTF-8 is Unicode's Table 3-7: a lead byte C2..F4 followed by the
 * continuation bytes it needs, with the narrowed second-byte ranges that rule
 * out overlong forms (E0 A0.., F0 90..), surrogates (ED ..9F) and code points
 * above U+10FFFF (F4 ..8F). C0, C1 and F5..FF never appear.
 *
 * Replacement follows "U+FFFD substitution of maximal subparts" (Unicode
 * ch. 3, also W3C/WHATWG), which is exactly what CPython's
 * bytes.decode("utf-8", errors="replace") does: an ill-formed sequence is cut
 * at the first byte that cannot continue it, the well-formed prefix before
 * that byte (a "maximal subpart", 1 to 3 bytes) becomes ONE U+FFFD, and
 * scanning resumes AT the offending byte. A lone continuation byte or a byte
 * that can never start a sequence is one U+FFFD on its own.
 *   e.g. E2 82 41 -> U+FFFD 'A';  F0 80 80 -> U+FFFD U+FFFD U+FFFD (80 can
 *   never follow F0, so F0 is a maximal subpart alone);  ED A0 80 -> 3 x FFFD.
 *
 * The streaming decoder keeps at most 3 bytes of a still-valid incomplete
 * prefix between pushes, so text printed token by token never shows a
 * character split across tokens and equals the one-shot decode of the
 * concatenated bytes.
 */
#include "internal.h"

#include <string.h>

ts_utf8_scan ts_utf8_classify(const unsigned char *s, size_t n, size_t *seq_len, int32_t *cp)
{
    TS_ASSERT(n > 0);
    unsigned b0 = s[0];
    if (b0 < 0x80) {
        *seq_len = 1;
        *cp = (int32_t)b0;
        return TS_UTF8_COMPLETE;
    }
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (b0 < 0xC2) {
        *seq_len = 1;
        return TS_UTF8_INVALID;
    } else if (b0 < 0xE0) {
        need = 2;
    } else if (b0 < 0xF0) {
        need = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 < 0xF5) {
        need = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        *seq_len = 1;
        return TS_UTF8_INVALID;
    }
    uint32_t v = b0 & (0x7Fu >> need);
    for (size_t k = 1; k < need; k++) {
        if (k >= n) {
            *seq_len = k;
            return TS_UTF8_INCOMPLETE;
        }
        unsigned c = s[k];
        unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
        if (c < l || c > h) {
            *seq_len = k;
            return TS_UTF8_INVALID;
        }
        v = (v << 6) | (c & 0x3F);
    }
    *seq_len = need;
    *cp = (int32_t)v;
    return TS_UTF8_COMPLETE;
}

static const char REPLACEMENT[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

size_t ts_utf8_replace(const char *bytes, size_t len, char *out)
{
    ts_utf8_stream st = {{0}, 0};
    size_t o = ts_utf8_stream_push(&st, bytes, len, out);
    return o + ts_utf8_stream_flush(&st, out + o);
}

size_t ts_utf8_stream_push(ts_utf8_stream *st, const char *bytes, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)bytes;
    size_t o = 0, i = 0, seq;
    int32_t cp;
    /* Finish the held prefix first, one byte at a time. It was a valid
     * incomplete prefix, so if adding a byte makes it invalid, the new byte is
     * the offender: the prefix becomes one U+FFFD and the byte is rescanned. */
    while (st->n_pending > 0 && i < len) {
        st->pending[st->n_pending] = s[i];
        ts_utf8_scan r = ts_utf8_classify(st->pending, st->n_pending + 1, &seq, &cp);
        if (r == TS_UTF8_INCOMPLETE) {
            st->n_pending++;
            i++;
        } else if (r == TS_UTF8_COMPLETE) {
            memcpy(out + o, st->pending, st->n_pending + 1);
            o += st->n_pending + 1;
            st->n_pending = 0;
            i++;
        } else {
            memcpy(out + o, REPLACEMENT, 3);
            o += 3;
            st->n_pending = 0;
        }
    }
    while (i < len) {
        if (s[i] < 0x80) { /* ASCII run: the common case */
            out[o++] = (char)s[i++];
            continue;
        }
        ts_utf8_scan r = ts_utf8_classify(s + i, len - i, &seq, &cp);
        if (r == TS_UTF8_COMPLETE) {
            memcpy(out + o, s + i, seq);
            o += seq;
        } else if (r == TS_UTF8_INVALID) {
            memcpy(out + o, REPLACEMENT, 3);
            o += 3;
        } else {
            memcpy(st->pending, s + i, seq);
            st->n_pending = seq;
        }
        i += seq;
    }
    return o;
}

size_t ts_utf8_stream_flush(ts_utf8_stream *st, char *out)
{
    if (st->n_pending == 0) return 0;
    st->n_pending = 0;
    memcpy(out, REPLACEMENT, 3);
    return 3;
}
