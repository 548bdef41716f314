/* line.h: the program's rule for a line, shared by echo and chat: its text excludes "\n" or "\r\n", --max-line bounds the text, and a client that resets before its first byte did not fail. */
#ifndef SOCKSERV_LINE_H
#define SOCKSERV_LINE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sockserv.h"

/* The length of a line's text: the n bytes without a final "\n", or
 * "\r\n". A last line that ended with the input has no end to take off, and
 * a lone '\r' at its end is text. */
static inline size_t line_text_len(const char *line, size_t n)
{
    if (n > 0 && line[n - 1] == '\n') {
        n--;
        if (n > 0 && line[n - 1] == '\r')
            n--;
    }
    return n;
}

/* The limit to give ss_readline_ref() for texts of at most max_text bytes:
 * room for the text and its "\r\n" (saturating: a larger line is still
 * refused by its text's length). */
static inline size_t line_read_max(size_t max_text)
{
    return max_text > SIZE_MAX - 2 ? SIZE_MAX : max_text + 2;
}

/* Whether a read that failed with `n` ended a client that never sent a
 * byte (`lines`: the lines read before) by resetting its connection: a
 * load balancer's health check does that (it connects, sends its PROXY
 * header if it has one, and resets). Such a client ended, it did not fail:
 * nothing to report. */
static inline bool line_silent_reset(ss_request *req, ssize_t n, size_t lines)
{
    return n == -ECONNRESET && lines == 0 && !ss_input_buffered(req);
}

#endif
