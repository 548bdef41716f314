/* chat_line.c: a chat line: strip the line end, recognise "quit", bound the text, neutralise what could drive a terminal. */
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "chat_line.h"
#include "line.h"

static bool is_quit(const char *text, size_t len)
{
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    while (len > 0 && isspace((unsigned char)*text)) {
        text++;
        len--;
    }
    return len == 4 && memcmp(text, "quit", 4) == 0;
}

enum chat_line chat_line_frame(const char *line, size_t n, size_t max, size_t *len)
{
    *len = line_text_len(line, n);
    if (*len > max)
        return CHAT_LINE_LONG;
    return is_quit(line, *len) ? CHAT_LINE_QUIT : CHAT_LINE_SAY;
}

/* The length of the well-formed UTF-8 sequence at s (n > 0 bytes left), its
 * code point in *cp; 0 when it is not one. The ranges are Unicode's (Table
 * 3-7): the bounds of the second byte rule out overlong forms, surrogates
 * and code points past U+10FFFF. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    uint32_t v;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        v = s[0] & 0x1Fu;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        v = s[0] & 0x0Fu;
        lo = s[0] == 0xE0 ? 0xA0 : 0x80;
        hi = s[0] == 0xED ? 0x9F : 0xBF;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        v = s[0] & 0x07u;
        lo = s[0] == 0xF0 ? 0x90 : 0x80;
        hi = s[0] == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xBF;
        v = v << 6 | (s[i] & 0x3Fu);
    }
    *cp = v;
    return len;
}

/* The characters that move the cursor, erase, start escape sequences, end
 * a line or reorder what follows them on screen. */
static bool is_control(uint32_t cp)
{
    return (cp < 0x20 && cp != '\t') || (cp >= 0x7F && cp <= 0x9F) ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
           cp == 0x2028 || cp == 0x2029;
}

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
static const char replacement[3] = { '\xEF', '\xBF', '\xBD' };

size_t chat_line_clean(const char *text, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t done = 0;

    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        if (s[i] >= 0x20 && s[i] < 0x7F) { /* printable ASCII: most text */
            out[done++] = (char)s[i++];
            continue;
        }
        size_t k = utf8_decode(s + i, len - i, &cp);
        if (k > 0 && !is_control(cp)) {
            memcpy(out + done, s + i, k);
            done += k;
        } else {
            memcpy(out + done, replacement, sizeof replacement);
            done += sizeof replacement;
        }
        i += k > 0 ? k : 1; /* not UTF-8: one byte at a time */
    }
    return done;
}
