/* chat_line.h: a chat line's framing and the cleaning of its text, apart from the I/O so that tests/fuzz/ can call them. */
#ifndef SOCKSERV_CHAT_LINE_H
#define SOCKSERV_CHAT_LINE_H

#include <stddef.h>

enum chat_line {
    CHAT_LINE_SAY,           /* post the text to the room */
    CHAT_LINE_QUIT,          /* the client said "quit": end its session */
    CHAT_LINE_LONG           /* the text is longer than the limit: end the session */
};

/* Frame one line as ss_readline_ref() gives it: n > 0 bytes, ending in '\n'
 * unless the input ended first (read with the limit line_read_max(max)).
 * Sets *len to the length of the text, the line without its "\n" or "\r\n"
 * (line.h); a text over max bytes is CHAT_LINE_LONG, the text "quit" (with
 * blanks around) asks to leave. */
enum chat_line chat_line_frame(const char *line, size_t n, size_t max, size_t *len);

/* The most chat_line_clean() makes of one byte: U+FFFD is 3 bytes long. */
#define CHAT_CLEAN_GROWTH 3

/* Copy a member's text to out (room for CHAT_CLEAN_GROWTH * len bytes) as
 * other members' terminals may show it: every character that could drive a
 * terminal or disguise the line becomes U+FFFD (EF BF BD): the C0 controls
 * but TAB, DEL, the C1 controls (U+0080-U+009F), the bidirectional
 * embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), the
 * line and paragraph separators (U+2028, U+2029), and each byte of what is
 * not well-formed UTF-8 (overlong forms, surrogates, past U+10FFFF,
 * truncated or stray bytes). Other UTF-8 is copied byte for byte. Returns
 * the length written. */
size_t chat_line_clean(const char *text, size_t len, char *out);

#endif
