/* fuzz_chat_line.c: fuzz target: the chat handler's line framing (chat_line_frame) over lines read as chat.c reads them. */
#include "fuzz.h"

#include <ctype.h>

#include "chat_line.h"

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
    fuzz_feed_start(&f, payload, len, &ctl);

    const char *line;
    ssize_t n = 0;
    enum chat_line kind = CHAT_LINE_SAY;
    while (kind == CHAT_LINE_SAY && (n = ss_readline_ref(f.req, &line, max + 1)) > 0) {
        FUZZ_CHECK((size_t)n <= len - pos && memcmp(line, payload + pos, (size_t)n) == 0,
                   "line of %zd bytes at offset %zu is not the input's", n, pos);
        size_t text;
        kind = chat_line_frame(line, (size_t)n, &text);
        size_t cut = (size_t)n - text; /* what framing took off the end */
        bool last = pos + (size_t)n == len;
        FUZZ_CHECK(text <= max, "a text of %zu bytes passed the limit of %zu", text, max);
        FUZZ_CHECK(!memchr(line, '\n', text), "the text keeps a '\\n'");
        FUZZ_CHECK((cut == 0 && last && line[n - 1] != '\n') ||
                   (cut == 1 && line[n - 1] == '\n' && (n == 1 || line[n - 2] != '\r')) ||
                   (cut == 2 && line[n - 2] == '\r' && line[n - 1] == '\n'),
                   "line of %zd bytes framed as a text of %zu", n, text);
        FUZZ_CHECK((kind == CHAT_LINE_QUIT) == says_quit(line, text), "quit %s for a text of %zu bytes",
                   kind == CHAT_LINE_QUIT ? "seen" : "missed", text);
        pos += (size_t)n;
    }
    if (kind == CHAT_LINE_SAY) {
        size_t rest = len - pos;
        const uint8_t *nl = memchr(payload + pos, '\n', rest < max + 1 ? rest : max + 1);
        if (n == -EMSGSIZE)
            FUZZ_CHECK(rest >= max + 1 && !nl, "-EMSGSIZE with %zu bytes left, limit %zu", rest, max);
        else if (n < 0) /* the handler fails with it: a timeout or a drain */
            FUZZ_CHECK(f.faults > 0 && n == f.fault, "reading lines failed: %zd", n);
        else
            FUZZ_CHECK(rest == 0, "reading lines ended with %zu bytes left", rest);
    }
    fuzz_feed_end(&f);
    return 0;
}
