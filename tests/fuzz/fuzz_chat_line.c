/* fuzz_chat_line.c: fuzz target: a chat line's framing (chat_line_frame) over lines read as chat.c reads them, and the cleaning of their text (chat_line_clean). */
#include "fuzz.h"

#include <ctype.h>

#include "chat_line.h"
#include "line.h"

/* "quit" with only blanks around it: exactly four non-blank bytes, next to
 * each other, spelling it. */
static bool says_quit(const char *text, size_t len)
{
    char word[4];
    size_t count = 0, first = 0, last = 0;
    for (size_t i = 0; i < len; i++) {
        if (isspace((unsigned char)text[i]))
            continue;
        if (count < sizeof word)
            word[count] = text[i];
        if (count++ == 0)
            first = i;
        last = i;
    }
    return count == 4 && last - first == 3 && memcmp(word, "quit", 4) == 0;
}

/* The oracle for the cleaning, written apart from it: the length of the
 * character at s if it is well-formed UTF-8 (decoded by its lead byte's
 * count of ones, then checked for the shortest form, surrogates and the
 * Unicode range) and not a control a terminal or a bidi display would obey;
 * else 0. */
static size_t safe_char(const unsigned char *s, size_t n)
{
    static const uint32_t shortest[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t len = 0;
    while (len < 8 && (s[0] & (0x80u >> len)))
        len++;
    if (len == 0)
        return (s[0] >= 0x20 && s[0] != 0x7F) || s[0] == '\t' ? 1 : 0;
    if (len < 2 || len > 4 || n < len)
        return 0;
    uint32_t cp = s[0] & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if (cp < shortest[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    if (cp <= 0x9F || (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
        cp == 0x2028 || cp == 0x2029)
        return 0;
    return len;
}

static bool all_safe(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0, k; i < len; i += k)
        if ((k = safe_char(s + i, len - i)) == 0)
            return false;
    return true;
}

/* The cleaning's promises, for one text. */
static void check_clean(const char *text, size_t len)
{
    char *once = malloc(CHAT_CLEAN_GROWTH * len + 1), *twice = malloc(CHAT_CLEAN_GROWTH * len + 1);
    FUZZ_CHECK(once && twice, "out of memory");
    size_t n = chat_line_clean(text, len, once);
    FUZZ_CHECK(n <= CHAT_CLEAN_GROWTH * len, "a text of %zu bytes cleaned to %zu", len, n);
    FUZZ_CHECK(all_safe(once, n), "a cleaned text of %zu bytes keeps a control or bad UTF-8", n);
    if (all_safe(text, len))
        FUZZ_CHECK(n == len && memcmp(once, text, len) == 0, "a clean text of %zu bytes was changed", len);
    const char *cleaned = once;
    size_t m = chat_line_clean(cleaned, n, twice);
    FUZZ_CHECK(m == n && memcmp(twice, once, n) == 0, "cleaning a cleaned text changed it");
    free(once);
    free(twice);
}

/* Input: byte 0 = n, n control bytes (the line limit, read buffer size,
 * chunk sizes, faults), then what the client sends. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ctl ctl;
    const uint8_t *payload;
    size_t len, pos = 0;
    fuzz_feed f;

    fuzz_split(data, size, &ctl, &payload, &len);
    size_t max = fuzz_ctl_size(&ctl, 64); /* the chat's --max-line */
    size_t limit = line_read_max(max);    /* what chat.c reads with */
    fuzz_feed_start(&f, payload, len, &ctl);

    const char *line;
    ssize_t n = 0;
    enum chat_line kind = CHAT_LINE_SAY;
    while (kind == CHAT_LINE_SAY && (n = ss_readline_ref(f.req, &line, limit)) > 0) {
        FUZZ_CHECK((size_t)n <= len - pos && memcmp(line, payload + pos, (size_t)n) == 0,
                   "line of %zd bytes at offset %zu is not the input's", n, pos);
        size_t text;
        kind = chat_line_frame(line, (size_t)n, max, &text);
        size_t cut = (size_t)n - text; /* what framing took off the end */
        bool last = pos + (size_t)n == len;
        FUZZ_CHECK((kind == CHAT_LINE_LONG) == (text > max), "a text of %zu bytes, limit %zu, framed as %d",
                   text, max, (int)kind);
        FUZZ_CHECK(!memchr(line, '\n', text), "the text keeps a '\\n'");
        FUZZ_CHECK((cut == 0 && last && line[n - 1] != '\n') ||
                   (cut == 1 && line[n - 1] == '\n' && (n == 1 || line[n - 2] != '\r')) ||
                   (cut == 2 && line[n - 2] == '\r' && line[n - 1] == '\n'),
                   "line of %zd bytes framed as a text of %zu", n, text);
        if (kind != CHAT_LINE_LONG)
            FUZZ_CHECK((kind == CHAT_LINE_QUIT) == says_quit(line, text), "quit %s for a text of %zu bytes",
                       kind == CHAT_LINE_QUIT ? "seen" : "missed", text);
        if (kind == CHAT_LINE_SAY)
            check_clean(line, text);
        pos += (size_t)n;
    }
    if (kind == CHAT_LINE_SAY) {
        size_t rest = len - pos;
        const uint8_t *nl = memchr(payload + pos, '\n', rest < limit ? rest : limit);
        if (n == -EMSGSIZE)
            FUZZ_CHECK(rest >= limit && !nl, "-EMSGSIZE with %zu bytes left, limit %zu", rest, limit);
        else if (n < 0) /* the handler fails with it: a timeout or a drain */
            FUZZ_CHECK(f.faults > 0 && n == f.fault, "reading lines failed: %zd", n);
        else
            FUZZ_CHECK(rest == 0, "reading lines ended with %zu bytes left", rest);
    }
    fuzz_feed_end(&f);
    return 0;
}
